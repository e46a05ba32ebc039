"""Real processes and threads the tests start: `manage.py gearman_worker` subprocesses,
calls run in a background thread, and forked children."""

from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from django_gearman.testing import serving_pids

from .waiting import wait_for

MANAGE_PY = Path(__file__).resolve().parent.parent.parent / "testproject" / "manage.py"


def process_exists(pid: int) -> bool:
    """Whether a process with this pid is alive (or a zombie nobody has waited for yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def manage_py_env(servers, env=None) -> dict[str, str]:
    """Environment for a testproject `manage.py` subprocess using these gearmand servers."""
    environment = {**os.environ, "GEARMAN_SERVERS": ",".join(map(str, servers)), **(env or {})}
    python_path = [str(MANAGE_PY.parent), environment.get("PYTHONPATH")]
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, python_path))
    return environment


class WorkerProcess:
    """A `manage.py gearman_worker` subprocess (testproject's, or `manage_py`'s project), stopped by pid.

    `servers` are where this process sees it register; `command_prefix` runs it through
    another command, such as `ip netns exec NAME` (which keeps the pid); `command` another
    long-running command than gearman_worker (which registers with no server).
    """

    def __init__(self, args, env, servers, log_path: Path, manage_py: Path = MANAGE_PY,
                 command_prefix: Sequence[str] = (), command: str = "gearman_worker"):
        self.args = args
        self.servers = servers
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen(
            [*command_prefix, sys.executable, str(manage_py), command, *args],
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
