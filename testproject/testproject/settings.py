"""Settings of the example project. Gearman settings come from the environment
so that the demo and the tests can point workers at their own gearmand."""

import json
import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "testproject-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_gearman",
    "shop",
    "ledger",  # what the reliability tests count
]
if django.VERSION < (6, 0):
    INSTALLED_APPS.append("django_tasks")  # the backport of Django 6's django.tasks
# What the admin (and so the Gearman dashboard under /admin/) needs.
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "testproject.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
STATIC_URL = "static/"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("TESTPROJECT_DB", str(BASE_DIR / "db.sqlite3")),
        # Workers and the tests write to one file: wait for the lock instead of failing with
        # "database is locked", and take it when a transaction begins, not halfway through.
        # (A test of a locked database shortens the wait with TESTPROJECT_SQLITE_TIMEOUT.)
        "OPTIONS": {
            "timeout": float(os.environ.get("TESTPROJECT_SQLITE_TIMEOUT", 20)),
            "transaction_mode": "IMMEDIATE",
        },
    },
    # The tests' private PostgreSQL server (django_gearman.testing.PostgresCluster): tests/conftest.py
    # fills in its address when a collected test uses it; nothing connects here otherwise.
    "postgres": {"ENGINE": "django.db.backends.postgresql", "NAME": "gearman"},
}
if os.environ.get("TESTPROJECT_POSTGRES"):
    # A libpq connection string, "host=... port=... user=... dbname=...", as PostgresCluster.conninfo()
    # writes it: the tests run manage.py on their PostgreSQL database this way.
    _conninfo = dict(pair.split("=", 1) for pair in os.environ["TESTPROJECT_POSTGRES"].split())
    DATABASES["default"] = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _conninfo["dbname"],
        "USER": _conninfo.get("user", ""),
        "HOST": _conninfo.get("host", ""),
        "PORT": _conninfo.get("port", ""),
        # A worker keeps its connection from job to job (close_old_connections() replaces a broken
        # one). With 0 it connects for every job: 67 jobs/s instead of 1,268 here (docs/reliability.md).
        "CONN_MAX_AGE": None,
    }
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

GEARMAN_SERVERS = os.environ.get("GEARMAN_SERVERS", "127.0.0.1:4730").split(",")
GEARMAN_TASK_PREFIX = os.environ.get("GEARMAN_TASK_PREFIX", "")
GEARMAN_SERIALIZER = os.environ.get("GEARMAN_SERIALIZER", "json")
GEARMAN_SIGNING_KEY = os.environ.get("GEARMAN_SIGNING_KEY") or None
GEARMAN_SIGNING_KEY_FALLBACKS = [key for key in os.environ.get("GEARMAN_SIGNING_KEY_FALLBACKS", "").split(",") if key]
GEARMAN_FAILURE_TRACEBACKS = os.environ.get("GEARMAN_FAILURE_TRACEBACKS", "1") == "1"
# JSON, such as {"ca_file": "/etc/gearman/ca.pem"}: how the TLS tests point workers at stunnel.
GEARMAN_TLS = json.loads(os.environ["GEARMAN_TLS"]) if os.environ.get("GEARMAN_TLS") else None
GEARMAN_STORE_RESULTS = os.environ.get("GEARMAN_STORE_RESULTS") == "1"
GEARMAN_TASK_TIMEOUT = float(os.environ["GEARMAN_TASK_TIMEOUT"]) if os.environ.get("GEARMAN_TASK_TIMEOUT") else None
# Periodic jobs for `manage.py gearman_scheduler`, as JSON (the scheduler's tests set it).
GEARMAN_SCHEDULE = json.loads(os.environ.get("GEARMAN_SCHEDULE", "{}"))

# Django's tasks framework (shop/tasks.py): run by `manage.py gearman_worker --django-tasks`.
TASKS = {"default": {"BACKEND": "django_gearman.backends.GearmanBackend", "QUEUES": ["default", "reports"]}}

# Where the example tasks leave their output (collected log lines, sent e-mails);
# tests point workers at a temporary directory.
SHOP_DATA_DIR = Path(os.environ.get("SHOP_DATA_DIR", BASE_DIR / "var"))
if django.VERSION >= (6, 1):  # MAILERS replaces the EMAIL_* settings, deprecated since 6.1
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": SHOP_DATA_DIR / "mail"},
        }
    }
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = SHOP_DATA_DIR / "mail"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_gearman": {"handlers": ["console"], "level": "INFO"}},
}
