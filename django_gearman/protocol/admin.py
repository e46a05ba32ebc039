"""gearmand's text admin protocol (`status`, `workers`, ...) and an ECHO ping."""

from __future__ import annotations

import secrets
import ssl
import time
from dataclasses import dataclass

from .codec import RES, Packet, PacketType, encode
from .connection import Connection, ServerAddress
from .errors import GearmanError, GearmanTimeout, ProtocolError

#: Longer lines in an admin reply are refused (a `workers` line lists all of one worker's functions).
MAX_LINE = 1024 * 1024
#: Longer admin replies are refused.
MAX_REPLY = 64 * 1024 * 1024


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

    fd: int  # gearmand's socket number for it; -1 for a connection gearmand is closing
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
    """One connection for admin commands; use as a context manager.

    gearmand prints names as they are, so a function named with a line break
    could end a listing early and make up rows of its own. Each command is
    therefore followed by an ECHO carrying a fresh random token (binary
    packets start with a NUL, which no name can hold): the reply is exactly
    the text before that echo, and anything else is a `ProtocolError`.
    `timeout` bounds each call as a whole.
    """

    def __init__(
        self,
        server: str | ServerAddress,
        timeout: float = 5.0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ):
        self.address = ServerAddress.parse(server)
        self.timeout = timeout
        self.connection = Connection(self.address, timeout, ssl_context=ssl_context, server_hostname=server_hostname)

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.connection.close()

    # -- commands -----------------------------------------------------------

    def status(self) -> list[FunctionStatus]:
        rows = []
        for line in self._listing("status"):
            name, *counts = self._columns(line, "status", 4)
            rows.append(FunctionStatus(name, *(self._count(value, line, "status") for value in counts)))
        return rows

    def workers(self) -> list[WorkerInfo]:
        rows = []
        for line in self._listing("workers"):
            head, colon, functions = line.partition(" :")
            parts = head.split(" ")
            if not colon or len(parts) != 3:
                raise ProtocolError(f"unexpected 'workers' line from {self.address}: {_quoted(line)}")
            fd, ip, client_id = parts
            # gearmand lists a connection it is closing with its socket already gone, as fd -1.
            number = -1 if fd == "-1" else self._count(fd, line, "workers")
            rows.append(WorkerInfo(number, ip, client_id, tuple(functions.split())))
        return rows

    def version(self) -> str:
        return self._ok("version")

    def getpid(self) -> int:
        return self._count(self._ok("getpid"), "getpid", "getpid")

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
            rows.append(QueuedJob(handle, self._count(retries, line, "show jobs"), ignore == "1", queued == "1"))
        return rows

    def cancel_job(self, handle: str) -> None:
        """Remove a queued (not yet running) background job."""
        self._ok(f"cancel job {_token(handle)}")

    def ping(self) -> float:
        """Seconds for one binary ECHO round trip on this connection."""
        payload = b"ping"
        deadline = time.monotonic() + self.timeout
        started = time.perf_counter()
        self.connection.send(encode(PacketType.ECHO_REQ, payload))
        packets = self._receive(deadline, "ECHO_REQ")
        while not packets:
            packets = self._receive(deadline, "ECHO_REQ")
        elapsed = time.perf_counter() - started
        if packets != [(PacketType.ECHO_RES, (payload,))] or self.connection.parser.pending:
            raise ProtocolError(f"{self.address} answered ECHO_REQ with {packets!r}")
        return elapsed

    # -- plumbing -----------------------------------------------------------

    def _receive(self, deadline: float, command: str) -> list[Packet]:
        try:
            return self.connection.receive(deadline)
        except GearmanTimeout:
            raise self._timed_out(command) from None

    def _timed_out(self, command: str) -> GearmanTimeout:
        return GearmanTimeout(f"gearmand at {self.address} did not answer within {self.timeout} s ({command!r})")

    def _reply(self, command: str) -> list[str]:
        """The lines gearmand sent in reply to `command`, without their line breaks."""
        deadline = time.monotonic() + self.timeout
        token = secrets.token_hex(8).encode()
        end_marker = encode(PacketType.ECHO_RES, token, magic=RES)
        self.connection.send(command.encode() + b"\n" + encode(PacketType.ECHO_REQ, token))
        buffer = bytearray()
        text_end = -1  # where the first NUL, the start of our echo, is
        line_start = 0
        while text_end < 0 or len(buffer) < text_end + len(end_marker):
            try:
                chunk = self.connection.read(deadline)
            except GearmanTimeout:
                raise self._timed_out(command) from None
            scanned = len(buffer)
            buffer += chunk
            if len(buffer) > MAX_REPLY:
                raise ProtocolError(f"gearmand at {self.address} sent more than {MAX_REPLY} bytes for {command!r}")
            if text_end < 0:
                text_end = buffer.find(b"\0", scanned)
                line_end = text_end if text_end >= 0 else len(buffer)
                newline = buffer.rfind(b"\n", scanned, line_end)
                if newline >= 0:
                    line_start = newline + 1
                if line_end - line_start > MAX_LINE:
                    raise ProtocolError(
                        f"gearmand at {self.address} sent a line longer than {MAX_LINE} bytes for {command!r}"
                    )
        if buffer[text_end:] != end_marker:
            if buffer[text_end : text_end + len(end_marker)] != end_marker:
                raise ProtocolError(f"gearmand at {self.address} sent binary data in its reply to {command!r}")
            extra = len(buffer) - text_end - len(end_marker)
            raise ProtocolError(f"gearmand at {self.address} sent {extra} bytes after its reply to {command!r}")
        with memoryview(buffer) as view:
            text = str(view[:text_end], "utf-8", "replace")
        if not text.endswith("\n"):
            raise ProtocolError(f"gearmand's reply to {command!r} from {self.address} does not end with a line break")
        return [line.removesuffix("\r") for line in text[:-1].split("\n")]

    def _listing(self, command: str) -> list[str]:
        lines = self._reply(command)
        if len(lines) == 1 and lines[0].startswith("ERR "):
            raise GearmanError(f"gearmand at {self.address} refused {command!r}: {lines[0][4:]}")
        if lines[-1] != ".":
            raise ProtocolError(f"gearmand's {command!r} listing from {self.address} does not end with '.'")
        del lines[-1]
        if "." in lines:
            raise ProtocolError(
                f"gearmand's {command!r} listing from {self.address} goes on after its end ('.'): a name in it "
                "holds a line break, so its rows cannot be told apart"
            )
        return lines

    def _ok(self, command: str) -> str:
        lines = self._reply(command)
        if len(lines) != 1:
            raise ProtocolError(f"gearmand at {self.address} answered {command!r} with {len(lines)} lines, not one")
        line = lines[0]
        if line.startswith("ERR"):
            raise GearmanError(f"gearmand at {self.address} refused {command!r}: {line[3:].strip()}")
        if line == "OK":
            return ""
        if line.startswith("OK "):
            return line[3:]
        raise ProtocolError(f"unexpected answer to {command!r} from {self.address}: {_quoted(line)}")

    def _columns(self, line: str, command: str, count: int) -> list[str]:
        columns = line.split("\t")
        if len(columns) != count:
            raise ProtocolError(f"unexpected {command!r} line from {self.address}: {_quoted(line)}")
        return columns

    def _count(self, text: str, line: str, command: str) -> int:
        if not (text.isascii() and text.isdigit()):
            raise ProtocolError(
                f"expected a number, got {_quoted(text)} in {command!r} line {_quoted(line)} from {self.address}"
            )
        return int(text)


def _quoted(text: str, limit: int = 200) -> str:
    """repr() of `text`, cut short: a refused line may be a megabyte long."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def _token(value: str) -> str:
    if not value or any(character.isspace() for character in value):
        raise ValueError(f"{value!r} cannot be sent in an admin command: it is empty or contains whitespace")
    return value
