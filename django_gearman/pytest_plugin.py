"""pytest fixtures that run real gearmand servers and workers: installed with the
package (entry point `pytest11`), so any project's tests can use them::

    def test_resize(gearmand, settings):
        settings.GEARMAN_SERVERS = [gearmand.address]

    def test_checkout(gearman_worker):          # a gearman_worker --all process on the gearmand fixture
        assert add.submit(2, 3) == 5

`gearmand_factory("-q", "libsqlite3", ...)` starts more servers, or servers
with options; `gearman_worker_factory("-a", "shop", "-n", "mail")` starts
workers with options. Every server listens on a free 127.0.0.1 port, and
servers and workers are stopped by pid after the test.

`postgres_cluster` is a private PostgreSQL server (`PostgresCluster`) shared
by the whole session, started the first time a test asks for it.
"""

from __future__ import annotations

import pytest

from .testing import GearmandFactory, GearmandServer, GearmanWorkerProcess, PostgresCluster, find_gearmand

_workers_key = pytest.StashKey[list]()


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


@pytest.fixture
def gearman_worker_factory(request, gearmand, settings, tmp_path_factory):
    """Call it with `gearman_worker` options (default `--all`) to get a registered `GearmanWorkerProcess`.

    This test's Gearman settings point at the `gearmand` fixture (eager mode off), and so do the
    workers', whatever settings.py says. Workers run with this test's settings and databases
    (see `GearmanWorkerProcess`); a worker that exits before registering fails the test with its
    log, a failed test shows every worker's log, and workers are stopped (SIGTERM) afterwards.
    """
    settings.GEARMAN_SERVERS = [gearmand.address]
    settings.GEARMAN_CLIENT_SERVERS = settings.GEARMAN_WORKER_SERVERS = None
    settings.GEARMAN_ALWAYS_EAGER = False
    started: list[GearmanWorkerProcess] = []
    request.node.stash[_workers_key] = started

    def start(*args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> GearmanWorkerProcess:
        worker = GearmanWorkerProcess(args or ("--all",), gearmand, tmp_path_factory.mktemp("gearman_worker"),
                                      env=env)
        try:
            worker.start(timeout)
        except RuntimeError as exc:  # the message has the worker's log
            failure = str(exc)
        else:
            started.append(worker)
            return worker
        pytest.fail(failure, pytrace=False)

    yield start
    crashed = [worker for worker in started if worker.exited_by_itself()]
    for worker in started:
        worker.stop()
    if crashed:
        pytest.fail("\n".join(f"{worker.describe()} exited with status {worker.process.returncode} during the test "
                              "(its log is below)" for worker in crashed), pytrace=False)


@pytest.fixture
def gearman_worker(gearman_worker_factory) -> GearmanWorkerProcess:
    """A `gearman_worker --all` process (every task of the project) on the `gearmand` fixture's server."""
    return gearman_worker_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test (or its setup or teardown) shows the log of every worker it started."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for worker in item.stash.get(_workers_key, []):
            report.sections.append((f"{worker.describe()} log", worker.output))
