"""Fixtures shared by the Django-level tests: a gearmand the settings point at,
and real `manage.py gearman_worker` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from django_gearman.protocol import AdminClient

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


@pytest.fixture
def gearman_settings(gearmand, settings):
    """Django settings pointed at a fresh gearmand; returns that server."""
    settings.GEARMAN_SERVERS = [gearmand.address]
    settings.GEARMAN_CLIENT_SERVERS = None
    settings.GEARMAN_WORKER_SERVERS = None
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
            with AdminClient(server or self.servers[0], timeout=2) as admin:
                return any(
                    worker.client_id.split(":")[1:2] == [str(self.pid)] and worker.functions
                    for worker in admin.workers()
                )
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
