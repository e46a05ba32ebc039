"""The databases Django code runs on in the tests: SQLite, and PostgreSQL on the session's
private cluster, the same one in this process and in the `manage.py` subprocesses.

A test that must hold on both asks for the `db_backend` fixture (tests/conftest.py) and runs
twice, as `test_x[sqlite]` and `test_x[postgresql]`::

    def test_stored_jobs_reach_the_worker(db_backend, gearmand, start_worker):
        with transaction.atomic(using=db_backend.alias):
            ...                                       # the app's models, routed as usual
        start_worker("-a", "shop", servers=[gearmand], env=db_backend.env)

- The fixture brings `django_db(transaction=True)` (add no django_db mark of your own):
  rows are committed, so subprocesses see them; every table is emptied after the test.
- `db_backend.env` gives `manage.py` processes the same database as their default
  (`TESTPROJECT_DB`, or `TESTPROJECT_POSTGRES`, which testproject's settings read), also
  from inside a network namespace (a file, or PostgreSQL's unix socket).
- SQLite: the test database is a file (not Django's in-memory one), alias "default".
- PostgreSQL: the session's `postgres_cluster` (started only if a collected test needs it),
  database "test_gearman" on alias "postgres". In this process a router sends every model
  there (so the app's `router.db_for_write(Model)` answers "postgres"), and only "postgres"
  is open: a query that ignores routing (`transaction.atomic()` without `using=`) fails the test.
- One kind only: `@pytest.mark.parametrize("db_backend", [POSTGRESQL], indirect=True)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

#: The alias of the PostgreSQL test database in this process (testproject's settings define it).
POSTGRES_ALIAS = "postgres"

SQLITE = pytest.param("sqlite", marks=pytest.mark.django_db(transaction=True), id="sqlite")
POSTGRESQL = pytest.param(
    "postgresql", marks=pytest.mark.django_db(transaction=True, databases=[POSTGRES_ALIAS]), id="postgresql"
)


@dataclass(frozen=True)
class Database:
    """What a test needs to use one of the two databases."""

    #: "sqlite" or "postgresql"
    kind: str
    #: The alias this process uses: `transaction.atomic(using=alias)`, `Model.objects.using(alias)`.
    alias: str
    #: Environment for `manage.py` subprocesses (start_worker(env=...)): this database as their default.
    env: dict[str, str] = field(default_factory=dict)


class EverythingToPostgres:
    """A database router for PostgreSQL tests: every model lives in the "postgres" alias,
    as it does in the `manage.py` subprocesses, whose default database it is."""

    def db_for_read(self, model, **hints):
        return POSTGRES_ALIAS

    def db_for_write(self, model, **hints):
        return POSTGRES_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True


def sqlite_database() -> Database:
    return Database("sqlite", "default", {"TESTPROJECT_DB": connections["default"].settings_dict["NAME"]})


def postgres_database(cluster) -> Database:
    name = connections[POSTGRES_ALIAS].settings_dict["NAME"]  # the test database, once pytest-django made it
    return Database("postgresql", POSTGRES_ALIAS, {"TESTPROJECT_POSTGRES": cluster.conninfo(name)})


def share_sqlite_test_database(path: Path) -> None:
    """Make SQLite's test database a file, which `manage.py` subprocesses can open too."""
    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = str(path)


def point_postgres_alias_at(cluster) -> None:
    """Fill in the address of the "postgres" alias, before anything connects to it."""
    alias = settings.DATABASES[POSTGRES_ALIAS]
    alias.update(cluster.database_settings(alias["NAME"]))
    # Django sets up every other alias after "default" (TEST["DEPENDENCIES"]), which a
    # session of PostgreSQL tests alone does not set up at all.
    alias.setdefault("TEST", {})["DEPENDENCIES"] = []


def uses_alias(items, alias: str) -> bool:
    """Whether one of these collected tests opens `alias` (its django_db mark names it, or "__all__")."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        databases = marker.kwargs.get("databases") if marker else None
        if databases == "__all__" or (databases is not None and alias in databases):
            return True
    return False
