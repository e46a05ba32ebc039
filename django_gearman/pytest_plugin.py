"""pytest fixtures that run real gearmand servers: installed with the package
(entry point `pytest11`), so any project's tests can use them::

    def test_resize(gearmand, settings):
        settings.GEARMAN_SERVERS = [gearmand.address]

`gearmand_factory("-q", "libsqlite3", ...)` starts more servers, or servers
with options. Every server listens on a free 127.0.0.1 port and is stopped
by pid after the test.

`postgres_cluster` is a private PostgreSQL server (`PostgresCluster`) shared
by the whole session, started the first time a test asks for it.
"""

from __future__ import annotations

import pytest

from .testing import GearmandFactory, GearmandServer, PostgresCluster, find_gearmand


@pytest.fixture
def gearmand_factory(tmp_path_factory):
    """Call it with gearmand options to get a running `GearmandServer`."""
    try:
        find_gearmand()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    factory = GearmandFactory(str(tmp_path_factory.mktemp("gearmand")))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def gearmand(gearmand_factory) -> GearmandServer:
    """A fresh gearmand on a free 127.0.0.1 port, stopped after the test."""
    return gearmand_factory()


@pytest.fixture(scope="session")
def postgres_cluster():
    """A `PostgresCluster` for the session: started on first use (a few seconds), stopped by
    pid and removed at the end. Fails with the install command if PostgreSQL is missing."""
    try:
        cluster = PostgresCluster().start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with cluster:  # stopped by pid, and its files removed, when the session ends
        yield cluster
