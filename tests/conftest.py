"""What every suite shares (the other suites import the helpers: `from conftest import ...`):
polling, gearmand's view of functions and workers, addresses that refuse or never
answer, Django settings pointed at a gearmand, real `manage.py gearman_worker`
processes and other-language workers, background threads and forked children."""

from __future__ import annotations

import contextlib
import functools
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from django_gearman.protocol import AdminClient, FunctionStatus

MANAGE_PY = Path(__file__).resolve().parent.parent / "testproject" / "manage.py"


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


def function_status(server, function: str) -> FunctionStatus | None:
    """gearmand's `status` line for `function`, or None if it never heard of it."""
    with AdminClient(str(server), timeout=5) as admin:
        return next((row for row in admin.status() if row.function == function), None)


def total_jobs(server, function: str) -> int:
    """Jobs gearmand holds for `function`, queued or running (0 if it never heard of it)."""
    row = function_status(server, function)
    return row.total if row else 0


def wait_status(server, function: str, **expected: int) -> FunctionStatus:
    """Wait until gearmand's status line for `function` has the `expected` values,
    e.g. `queued=1, running=3` or `available_workers=2`; returns that line."""

    def reached():
        row = function_status(server, function)
        if row is not None and all(getattr(row, name) == value for name, value in expected.items()):
            return row
        return None

    return wait_for(reached, message=f"{function} on {server} to reach {expected}")


def registered_functions(server) -> set[str]:
    """Every function some worker has registered with this gearmand."""
    with AdminClient(str(server), timeout=5) as admin:
        return {function for worker in admin.workers() for function in worker.functions}


def serving_pids(server) -> set[int]:
    """Pids of the `gearman_worker` processes gearmand lists with functions (client id "host:pid:worker")."""
    with AdminClient(str(server), timeout=2) as admin:
        ids = [worker.client_id.split(":") for worker in admin.workers() if worker.functions]
    return {int(parts[1]) for parts in ids if len(parts) == 3 and parts[1].isdigit()}


@contextlib.contextmanager
def reserved_port():
    """A 127.0.0.1 port that refuses connections until the block ends.

    The port is bound and never listened on, so connecting is refused and no
    other socket (gearmand's, or a client's ephemeral one) can take it meanwhile.
    """
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


@pytest.fixture
def refused_address():
    """A 127.0.0.1 address that refuses connections for the whole test."""
    with reserved_port() as port:
        yield f"127.0.0.1:{port}"


def manage_py_env(servers, env=None) -> dict[str, str]:
    """Environment for a testproject `manage.py` subprocess using these gearmand servers."""
    environment = {**os.environ, "GEARMAN_SERVERS": ",".join(map(str, servers)), **(env or {})}
    python_path = [str(MANAGE_PY.parent), environment.get("PYTHONPATH")]
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, python_path))
    return environment


@pytest.fixture
def silent_server():
    """A 127.0.0.1 address that accepts connections and never answers: every call to it must time out."""
    # The kernel completes handshakes for the backlog; nobody ever reads.
    with socket.create_server(("127.0.0.1", 0), backlog=16) as listener:
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def point_settings_at(settings, server) -> None:
    """Clients and workers of these Django settings use `server` only."""
    settings.GEARMAN_SERVERS = [str(server)]
    settings.GEARMAN_CLIENT_SERVERS = None
    settings.GEARMAN_WORKER_SERVERS = None


@pytest.fixture
def gearman_settings(gearmand, settings):
    """Django settings pointed at a fresh gearmand; returns that server."""
    point_settings_at(settings, gearmand)
    return gearmand


class WorkerProcess:
    """A `manage.py gearman_worker` subprocess, stopped by pid."""

    def __init__(self, args, env, servers, log_path: Path):
        self.args = args
        self.servers = servers
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(MANAGE_PY), "gearman_worker", *args],
            env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def registered(self, server=None) -> bool:
        """True once gearmand lists this process among its workers (with functions)."""
        try:
            return self.pid in serving_pids(server or self.servers[0])
        except OSError:
            return False

    def wait_registered(self, timeout: float = 15.0) -> WorkerProcess:
        def ready():
            if self.process.poll() is not None:
                pytest.fail(f"worker exited with {self.process.returncode}:\n{self.output}")
            return all(self.registered(server) for server in self.servers)

        wait_for(ready, timeout, message=f"worker {self.args} to register\n{self.output}")
        return self

    def signal(self, signum=signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"worker {self.pid} did not exit within {timeout} s:\n{self.output}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()


@pytest.fixture
def start_worker(tmp_path):
    """Start `manage.py gearman_worker ARGS...` against the given servers; killed after the test.

    `start_worker("-a", "shop", "-n", "worker", servers=[gearmand.address], env={...})`
    returns a `WorkerProcess` once it is registered with every server (pass
    `wait=False` to skip that).
    """
    started: list[WorkerProcess] = []

    def start(*args, servers, env=None, wait=True) -> WorkerProcess:
        log_path = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(args, manage_py_env(servers, env), [str(s) for s in servers], log_path)
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


#: How long a test's background calls may still run after it ends, all together.
BACKGROUND_GRACE = 30.0


class BackgroundCall(threading.Thread):
    """`fn(*args, **kwargs)` in a thread of its own; `result()` joins it."""

    def __init__(self, fn: Callable, args, kwargs):
        super().__init__(name=f"in_background({getattr(fn, '__qualname__', fn)})", daemon=True)
        self._call = functools.partial(fn, *args, **kwargs)
        self._value: Any = None
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # raised again by result(), in the test's thread
            self._error = exc

    def done(self) -> bool:
        return not self.is_alive()

    def result(self, timeout: float) -> Any:
        """What the call returned (or raise what it raised); fails the test if it runs past `timeout`."""
        self.join(timeout)
        if self.is_alive():
            pytest.fail(f"{self.name} still running after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._value


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


class ForkedChild:
    """`work()` run in a forked child process, as a context manager; `report()` is what it returned.

    The child never returns into pytest (it ends with os._exit); if `work` raises,
    `report()` fails the test with the child's traceback. Leaving the block kills
    a child that is still running.
    """

    def __init__(self, work: Callable[[], bytes]):
        read_end, write_end = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            _run_child(work, read_end, write_end)
        os.close(write_end)
        self._pipe = os.fdopen(read_end, "rb", buffering=0)
        self._exit_code: int | None = None

    def __enter__(self) -> ForkedChild:
        return self

    def __exit__(self, *exc_info) -> None:
        self._pipe.close()
        if self._exit_code is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)

    def report(self, timeout: float = 30.0) -> bytes:
        """The bytes `work()` returned, once the child has exited."""
        deadline = time.monotonic() + timeout
        chunks = []
        while chunk := self._read(deadline):
            chunks.append(chunk)
        output = b"".join(chunks)
        _, status = wait_for(lambda: (waited := os.waitpid(self.pid, os.WNOHANG))[0] and waited,
                             max(0.0, deadline - time.monotonic()), message=f"child {self.pid} to exit")
        self._exit_code = os.waitstatus_to_exitcode(status)
        if self._exit_code != 0:
            pytest.fail(f"child {self.pid} exited with {self._exit_code}:\n{output.decode(errors='replace')}")
        return output

    def _read(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([self._pipe], [], [], remaining)[0]:
            pytest.fail(f"child {self.pid} did not finish in time")
        return self._pipe.read(65536)


def _run_child(work: Callable[[], bytes], read_end: int, write_end: int) -> None:
    """In the child: send what `work()` returns, or its traceback, and exit (0 or 1) without returning."""
    exit_code = 2
    try:
        os.close(read_end)
        try:
            report, succeeded = work(), True
        except BaseException:
            report, succeeded = traceback.format_exc().encode(), False
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(report)
        exit_code = 0 if succeeded else 1
    finally:
        os._exit(exit_code)
