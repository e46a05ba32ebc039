"""Settings of the benchmark's project: the smallest project a worker serves, as README sets one up.

benchmarks/django.py sets the variables: the gearmand (BENCH_GEARMAN), the SQLite file (BENCH_DB),
a signing key (BENCH_SIGNING_KEY, none when empty) and where a worker writes its report (BENCH_REPORT).
"""

import os

SECRET_KEY = "benchmark-not-secret"
INSTALLED_APPS = ["django_gearman", "benchapp"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_DB", "bench.sqlite3"),
        "OPTIONS": {"timeout": 20},
        # A worker keeps its connection from job to job, as README advises.
        "CONN_MAX_AGE": None,
    },
}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

GEARMAN_SERVERS = [os.environ.get("BENCH_GEARMAN", "127.0.0.1:4730")]
GEARMAN_SIGNING_KEY = os.environ.get("BENCH_SIGNING_KEY") or None
