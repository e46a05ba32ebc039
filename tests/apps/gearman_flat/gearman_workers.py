"""Wrong layout: gearman_workers must be a package with one module per worker."""
