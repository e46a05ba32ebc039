"""A worker module without tasks (yet)."""
