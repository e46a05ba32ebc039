"""Real gearmand servers for tests, demos and benchmarks (no pytest needed here).

`GearmandServer` runs one gearmand on a free 127.0.0.1 port and stops it by
pid; `GearmandFactory` runs several. The pytest fixtures built on them live in
`django_gearman.pytest_plugin`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import weakref
from pathlib import Path

INSTALL_HINT = "sudo apt-get install -y gearman-job-server gearman-tools"
SBIN_DIRECTORIES = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/homebrew/sbin")


def find_gearmand() -> str:
    """Path of the gearmand binary; raises with the install command if there is none."""
    found = shutil.which("gearmand")
    if found:
        return found
    for directory in SBIN_DIRECTORIES:
        candidate = Path(directory) / "gearmand"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(
        f"gearmand is not installed (looked on PATH and in {', '.join(SBIN_DIRECTORIES)}); "
        f"install it with: {INSTALL_HINT}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GearmandServer:
    """One gearmand process on 127.0.0.1. `str(server)` is its "host:port"."""

    host = "127.0.0.1"

    def __init__(self, *options: str, port: int | None = None, log_dir: str | None = None):
        self.options = tuple(options)
        self.port = port or free_port()
        if log_dir is None:
            log_dir = tempfile.mkdtemp(prefix="gearmand-")
            # Kept across restarts; removed once this object is gone.
            weakref.finalize(self, shutil.rmtree, log_dir, True)
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.address

    def __repr__(self) -> str:
        return f"<GearmandServer {self.address} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_file(self) -> Path:
        return Path(self.log_dir) / f"gearmand-{self.port}.log"

    @property
    def stderr_file(self) -> Path:
        return Path(self.log_dir) / f"gearmand-{self.port}.stderr"

    def start(self, timeout: float = 10.0) -> GearmandServer:
        command = [
            find_gearmand(),
            "--listen=127.0.0.1",
            f"--port={self.port}",
            f"--log-file={self.log_file}",
            # Its own pid file: as root, gearmand would otherwise share /var/gearmand.pid with every other one.
            f"--pid-file={Path(self.log_dir) / f'gearmand-{self.port}.pid'}",
            "--verbose=WARNING",
            *self.options,
        ]
        # A file, not a pipe: nobody reads a pipe while gearmand runs, so a chatty
        # gearmand would block on it, and its end would leak if gearmand died first.
        with open(self.stderr_file, "wb") as stderr:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.stderr_file.read_text(errors="replace")
                raise RuntimeError(
                    f"gearmand exited with {self.process.returncode} on port {self.port}: {error}{self._log_tail()}"
                )
            if self.answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"gearmand did not answer on {self.address} within {timeout} s{self._log_tail()}")

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as probe:
                probe.sendall(b"version\n")
                return probe.recv(64).startswith(b"OK")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the process we started (and only it), politely first."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, timeout: float = 10.0) -> GearmandServer:
        """Stop and start again on the same port with the same options."""
        self.stop()
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.start(timeout=max(0.1, deadline - time.monotonic()))
            except RuntimeError:
                if time.monotonic() >= deadline:  # the port may linger briefly
                    raise
                time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()[-10:]
        except OSError:
            return ""
        return "\n--- gearmand log ---\n" + "\n".join(lines) if lines else ""


class GearmandFactory:
    """Start any number of servers; all of them are stopped when the test ends."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self.servers: list[GearmandServer] = []

    def __call__(self, *options: str, port: int | None = None) -> GearmandServer:
        for attempt in range(5):
            server = GearmandServer(*options, port=port, log_dir=self.log_dir)
            try:
                server.start()
            except RuntimeError:
                # Another process may have taken the free port before gearmand bound it.
                if port is not None or attempt == 4:
                    raise
                continue
            self.servers.append(server)
            return server
        raise AssertionError("unreachable")

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()
