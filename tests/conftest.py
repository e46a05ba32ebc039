"""Fixtures every suite shares. Helpers live in `tests/support/` (importable as
`support.*`, since pyproject puts tests/ on the path); nothing imports this module."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import databases
from support.commands import HOLD, PREFIX, UNSERVED
from support.gearmand import point_settings_at, registered_functions, reserved_port, wait_status
from support.netns import Network
from support.processes import BACKGROUND_GRACE, BackgroundCall, WorkerProcess, manage_py_env
from support.protocol import WorkerThread
from support.tls import Certificates, client_context, make_certificates
from support.waiting import wait_for
from support.workers import release

from django_gearman import GearmanClient
from django_gearman.discovery import find_worker_module
from django_gearman.protocol import Worker
from django_gearman.testing import StunnelServer, find_stunnel


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request, tmp_path_factory):
    """pytest-django's hook before it creates the test databases: SQLite's becomes a file that
    `manage.py` subprocesses can open, and the "postgres" alias is pointed at the session's
    private cluster if a collected test uses it (see support/databases.py)."""
    databases.share_sqlite_test_database(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")
    if databases.uses_alias(request.session.items, databases.POSTGRES_ALIAS):
        databases.point_postgres_alias_at(request.getfixturevalue("postgres_cluster"))


@pytest.fixture(params=[databases.SQLITE, databases.POSTGRESQL])
def db_backend(request, settings) -> databases.Database:
    """Runs the test on SQLite and on PostgreSQL: the ORM here and in the `manage.py` processes
    started with `env=db_backend.env` use one database (see support/databases.py)."""
    if request.param == "postgresql":
        settings.DATABASE_ROUTERS = ["support.databases.EverythingToPostgres"]
        return databases.postgres_database(request.getfixturevalue("postgres_cluster"))
    return databases.sqlite_database()


@pytest.fixture
def network():
    """A `Network` for this test's namespaces and links (support/netns.py), all removed afterwards."""
    try:
        network = Network()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    with network:
        yield network


@pytest.fixture
def refused_address():
    """A 127.0.0.1 address that refuses connections for the whole test."""
    with reserved_port() as port:
        yield f"127.0.0.1:{port}"


@pytest.fixture
def silent_server():
    """A 127.0.0.1 address that accepts connections and never answers: every call to it must time out."""
    # The kernel completes handshakes for the backlog; nobody ever reads.
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def gearman_settings(gearmand, settings):
    """Django settings pointed at a fresh gearmand; returns that server."""
    point_settings_at(settings, gearmand)
    return gearmand


@pytest.fixture
def start_worker(tmp_path):
    """Start `manage.py gearman_worker ARGS...` against the given servers; killed after the test.

    `start_worker("-a", "shop", "-n", "worker", servers=[gearmand.address], env={...})`
    returns a `WorkerProcess` once it is registered with every server (pass
    `wait=False` to skip that). In a network namespace (support/netns.py):
    `prefix=namespace.exec_prefix`, `servers` as the worker reaches them, and
    `registered_on` the same servers as this process reaches them.
    """
    started: list[WorkerProcess] = []

    def start(*args, servers, env=None, wait=True, prefix=(), registered_on=None) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        watched = [str(server) for server in (registered_on or servers)]
        worker = WorkerProcess(args, manage_py_env(servers, env), watched, log_path, command_prefix=prefix)
        started.append(worker)
        return worker.wait_registered() if wait else worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_peer_worker(gearmand, tmp_path):
    """`start_peer_worker(*command, functions=[...])` runs a worker that is not a Django
    `gearman_worker` (another language's, the gearman CLI) until the test ends; returns
    once the `gearmand` fixture's server lists a worker for every one of `functions`."""
    started: list[subprocess.Popen] = []

    def start(*command, functions: list[str]) -> subprocess.Popen:
        log_path = tmp_path / f"peer-{len(started)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(list(map(str, command)), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        started.append(process)

        def serving():
            if process.poll() is not None:
                pytest.fail(f"{command} exited with {process.returncode}:\n{log_path.read_text()}")
            return set(functions) <= registered_functions(gearmand)

        wait_for(serving, message=f"{command} to serve {functions}")
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


@pytest.fixture
def run_worker():
    """`run_worker(servers, {"name": callback or (callback, timeout)}, **Worker options)`: a protocol
    `Worker` in a thread (a worker that is not a Django one, such as a rogue worker that anyone can run).

    Returns a started `WorkerThread`; every one still running is stopped after the test.
    """
    threads: list[WorkerThread] = []

    def run(servers, functions, **options) -> WorkerThread:
        worker = Worker([str(server) for server in servers], **options)
        for name, callback in functions.items():
            callback, timeout = callback if isinstance(callback, tuple) else (callback, None)
            worker.register(name, callback, timeout)
        thread = WorkerThread(worker)
        thread.start()
        threads.append(thread)
        return thread

    yield run
    errors = []
    for thread in threads:
        if thread.is_alive() or thread.error is not None:
            try:
                thread.stop()
            except BaseException as exc:
                errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def in_background():
    """`in_background(fn, *args, **kwargs)` starts fn in a thread and returns its `BackgroundCall`
    (for calls that block while the test acts, such as a foreground job's client).

    A call still running when the test ends is waited for, up to BACKGROUND_GRACE;
    one that outlives that fails the test instead of blocking into the next.
    """
    calls: list[BackgroundCall] = []

    def start(fn: Callable, *args, **kwargs) -> BackgroundCall:
        call = BackgroundCall(fn, args, kwargs)
        call.start()
        calls.append(call)
        return call

    yield start
    deadline = time.monotonic() + BACKGROUND_GRACE
    for call in calls:
        call.join(max(0.0, deadline - time.monotonic()))
    running = [call.name for call in calls if call.is_alive()]
    if running:
        pytest.fail(f"still running {BACKGROUND_GRACE} s after the test: {running}")


@pytest.fixture
def shop_data(tmp_path, settings) -> Path:
    """The SHOP_DATA_DIR of this test, in this process and in the workers it starts."""
    settings.SHOP_DATA_DIR = tmp_path / "shop"
    return settings.SHOP_DATA_DIR


@pytest.fixture
def serve(gearman_settings, start_worker, shop_data):
    """`serve("recipes", "--prefetch", "1")` runs `manage.py gearman_worker -a shop -n recipes
    --prefetch 1` against the test's gearmand; `wait=False` returns before it registered."""

    def serve(worker: str, *options: str, wait: bool = True):
        return start_worker("-a", "shop", "-n", worker, *options, servers=[gearman_settings],
                            env={"SHOP_DATA_DIR": str(shop_data)}, wait=wait)

    return serve


@pytest.fixture
def gearman(gearman_settings):
    """A GearmanClient for the test's gearmand."""
    client = GearmanClient()
    yield client
    client.close()


@dataclass
class BusyServer:
    gearmand: object
    workers: list  # WorkerProcess, in start order

    @property
    def worker_functions(self) -> list[str]:
        """What a `shop.worker` worker registers, as gearmand names it."""
        return sorted(PREFIX + task.name for task in find_worker_module("shop", "worker").tasks)


@pytest.fixture
def busy_server(gearman_settings, settings, start_worker, tmp_path):
    """gearmand with GEARMAN_TASK_PREFIX "staging-" and two `shop.worker` workers, both
    busy with a held job, one more held job queued behind them, and three jobs queued
    for a function no worker offers."""
    settings.GEARMAN_TASK_PREFIX = PREFIX
    env = {"GEARMAN_TASK_PREFIX": PREFIX}
    workers = [start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env=env) for _ in range(2)]
    flag = tmp_path / "release"
    client = GearmanClient()
    for _ in range(3):
        client.submit_job(HOLD, args=[str(flag)], background=True)
        client.submit_job(UNSERVED, args=[], background=True)
    wait_status(gearman_settings, PREFIX + HOLD, running=2, queued=1)
    yield BusyServer(gearman_settings, workers)
    release(flag)
    client.close()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory) -> Certificates:
    """A test CA with a server and a client certificate, and a second CA that signed a stranger's."""
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture
def start_stunnel(certificates):
    """`start_stunnel(gearmand)`: a real stunnel4 in front of it that presents the test CA's server
    certificate and demands a client certificate signed by the same CA; stopped after the test."""
    try:
        find_stunnel()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    started: list[StunnelServer] = []

    def start(upstream) -> StunnelServer:
        server = StunnelServer(upstream, certificates.server_cert, certificates.server_key,
                               client_ca_file=certificates.ca_file)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def stunnel(gearmand, start_stunnel) -> StunnelServer:
    """stunnel in front of the test's gearmand (see `start_stunnel`)."""
    return start_stunnel(gearmand)


@pytest.fixture
def tls_context(certificates):
    """A client's TLS context: trusts the test CA, presents the test client certificate."""
    return client_context(certificates.ca_file, certificates.client_cert, certificates.client_key)
