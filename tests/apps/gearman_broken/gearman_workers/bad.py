"""A worker module that fails while being imported (a setting it needs is missing):
discovery must raise this, not skip the module or report it as an unknown worker."""

import os

API_TOKEN = os.environ["GEARMAN_BROKEN_API_TOKEN"]
