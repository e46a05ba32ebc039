"""gearmand's text admin protocol (`status`, `workers`, ...) and an ECHO ping."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from .codec import RES, PacketType, Parser, encode
from .connection import ServerAddress
from .errors import GearmanError, GearmanServerUnavailable, GearmanTimeout, ProtocolError


@dataclass(frozen=True)
class FunctionStatus:
    """One line of `status`. gearmand's TOTAL column counts queued plus running jobs."""

    function: str
    total: int
    running: int
    available_workers: int

    @property
    def queued(self) -> int:
        return self.total - self.running


@dataclass(frozen=True)
class WorkerInfo:
    """One line of `workers`: a connection and the functions it can do."""

    fd: int
    ip: str
    client_id: str
    functions: tuple[str, ...]


@dataclass(frozen=True)
class QueuedJob:
    """One line of `show jobs`."""

    handle: str
    retries: int
    ignore_job: bool
    job_queued: bool


class AdminClient:
    """One connection for admin commands; use as a context manager."""

    def __init__(self, server: str | ServerAddress, timeout: float = 5.0):
        self.address = ServerAddress.parse(server)
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((self.address.host, self.address.port), timeout)
        except OSError as exc:
            raise GearmanServerUnavailable(f"cannot connect to gearmand at {self.address}: {exc}") from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    # -- commands -----------------------------------------------------------

    def status(self) -> list[FunctionStatus]:
        rows = []
        for line in self._listing("status"):
            name, total, running, workers = self._columns(line, "status", 4)
            rows.append(FunctionStatus(name, _number(total, line), _number(running, line), _number(workers, line)))
        return rows

    def workers(self) -> list[WorkerInfo]:
        rows = []
        for line in self._listing("workers"):
            head, colon, functions = line.partition(" :")
            parts = head.split()
            if not colon or len(parts) != 3:
                raise ProtocolError(f"unexpected 'workers' line from {self.address}: {line!r}")
            fd, ip, client_id = parts
            rows.append(WorkerInfo(_number(fd, line), ip, client_id, tuple(functions.split())))
        return rows

    def version(self) -> str:
        return self._ok("version")

    def getpid(self) -> int:
        return _number(self._ok("getpid"), "getpid")

    def maxqueue(self, function: str, size: int | None = None) -> None:
        """Limit `function`'s queue to `size` jobs (None: unlimited).

        gearmand 1.1 answers OK but ignores this for a function it has not seen
        a job or worker for yet, so set it after the function exists.
        """
        self._ok(f"maxqueue {_token(function)}" + ("" if size is None else f" {int(size)}"))

    def show_jobs(self) -> list[QueuedJob]:
        rows = []
        for line in self._listing("show jobs"):
            handle, retries, ignore, queued = self._columns(line, "show jobs", 4)
            rows.append(QueuedJob(handle, _number(retries, line), ignore == "1", queued == "1"))
        return rows

    def cancel_job(self, handle: str) -> None:
        """Remove a queued (not yet running) background job."""
        self._ok(f"cancel job {_token(handle)}")

    def ping(self) -> float:
        """Seconds for one binary ECHO round trip on this connection."""
        payload = b"ping"
        started = time.perf_counter()
        self._send(encode(PacketType.ECHO_REQ, payload))
        parser = Parser(RES)
        packets = parser.feed(self._buffer)
        while not packets:
            packets = parser.feed(self._recv())
        self._buffer = b""
        elapsed = time.perf_counter() - started
        if packets[0] != (PacketType.ECHO_RES, (payload,)):
            raise ProtocolError(f"{self.address} answered ECHO_REQ with {packets[0]!r}")
        return elapsed

    # -- plumbing -----------------------------------------------------------

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise GearmanServerUnavailable(f"lost connection to {self.address}: {exc}") from exc

    def _recv(self) -> bytes:
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise GearmanTimeout(f"gearmand at {self.address} did not answer within {self.timeout} s") from None
        except OSError as exc:
            raise GearmanServerUnavailable(f"lost connection to {self.address}: {exc}") from exc
        if not data:
            raise GearmanServerUnavailable(f"gearmand at {self.address} closed the connection")
        return data

    def _line(self) -> str:
        while b"\n" not in self._buffer:
            self._buffer += self._recv()
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def _listing(self, command: str) -> list[str]:
        self._send(command.encode() + b"\n")
        lines = []
        while True:
            line = self._line()
            if line == ".":
                return lines
            if line.startswith("ERR ") and not lines:
                raise GearmanError(f"gearmand at {self.address} refused {command!r}: {line[4:]}")
            lines.append(line)

    def _ok(self, command: str) -> str:
        self._send(command.encode() + b"\n")
        line = self._line()
        if line.startswith("ERR"):
            raise GearmanError(f"gearmand at {self.address} refused {command!r}: {line[3:].strip()}")
        if line == "OK":
            return ""
        if line.startswith("OK "):
            return line[3:]
        raise ProtocolError(f"unexpected answer to {command!r} from {self.address}: {line!r}")

    def _columns(self, line: str, command: str, count: int) -> list[str]:
        columns = line.split("\t")
        if len(columns) != count:
            raise ProtocolError(f"unexpected {command!r} line from {self.address}: {line!r}")
        return columns


def _number(text: str, context: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(f"expected a number, got {text!r} in {context!r}") from None


def _token(value: str) -> str:
    if not value or any(character.isspace() for character in value):
        raise ValueError(f"{value!r} cannot be sent in an admin command: it is empty or contains whitespace")
    return value
