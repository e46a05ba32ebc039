"""A blocking Gearman client: foreground and background jobs, batches, status.

One `Client` may be shared by many threads and survives `fork()`: each thread
of each process gets its own connections, made lazily. Replies are routed by
job handle, so a reply that arrives after its caller gave up is dropped
instead of being mistaken for the answer to the next call.
"""

from __future__ import annotations

import itertools
import logging
import os
import selectors
import ssl
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .codec import (
    DEFAULT_MAX_PAYLOAD_SIZE,
    HEADER,
    REQ,
    SUBMIT_TYPES,
    OversizedPayload,
    Packet,
    PacketType,
    encode,
    to_bytes,
)
from .connection import Connection, ConnectionOptions, ServerAddress
from .errors import GearmanError, GearmanJobFailed, GearmanPayloadTooLarge, GearmanServerUnavailable, GearmanTimeout

logger = logging.getLogger("django_gearman.protocol.client")

PRIORITIES = ("high", "normal", "low")
_TERMINAL = frozenset((PacketType.WORK_COMPLETE, PacketType.WORK_FAIL, PacketType.WORK_EXCEPTION))
_JOB_UPDATES = _TERMINAL | {PacketType.WORK_DATA, PacketType.WORK_WARNING, PacketType.WORK_STATUS}
_OPTION_EXCEPTIONS = encode(PacketType.OPTION_REQ, b"exceptions")
#: gearmand (1.1) keeps a job's unique id in a 64-byte C string, its NUL
#: included (GEARMAN_MAX_UNIQUE_SIZE): a 64-byte id is cut to 63 and the job's
#: data garbled, a longer one refused. So 63 bytes is the real limit.
MAX_UNIQUE_SIZE = 63
# UUID version 4 and the RFC 4122 variant, as uuid.UUID(version=4) sets them.
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def new_job_id() -> bytes:
    """`uuid.uuid4().hex`, encoded, at less than half the cost: no UUID object per job."""
    return b"%032x" % (int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR | _UUID4_SET)


@dataclass(frozen=True, eq=False)
class JobHandle:
    """Where a submitted job lives: gearmand's handle and the server that issued it.

    `job_id` is the job's identity (its unique id as text). It is not part of
    `str(handle)` and not compared, so handle strings stored before it existed
    still parse and equal a fresh handle.
    """

    handle: str
    server: str
    job_id: str = ""

    def __str__(self) -> str:
        return f"{self.handle}@{self.server}"

    # By handle and server alone, whatever the subclass: the Django layer hands out a
    # subclass that also reads results, and it must equal the handle parsed from its string.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, JobHandle):
            return NotImplemented
        return (self.handle, self.server) == (other.handle, other.server)

    def __hash__(self) -> int:
        return hash((self.handle, self.server))

    @classmethod
    def from_string(cls, text: str) -> JobHandle:
        """The inverse of `str(handle)`, for handles stored in a session or database."""
        handle, separator, server = str(text).rpartition("@")
        if not separator or not handle or not server:
            raise ValueError(f"not a job handle string: {text!r} (expected 'HANDLE@host:port')")
        return cls(handle, str(ServerAddress.parse(server)))


@dataclass(frozen=True)
class JobStatus:
    """GET_STATUS's answer. `known` is False once a job has finished (or never existed)."""

    known: bool
    running: bool
    numerator: int
    denominator: int

    @property
    def fraction(self) -> float | None:
        """Progress in [0, 1] as last reported by the worker, or None if it reported none."""
        return self.numerator / self.denominator if self.denominator else None


@dataclass(eq=False, init=False)
class JobRequest:
    """One job to submit, and everything gearmand sent back about it.

    `function`, `data` and `unique` may be given as str (sent as UTF-8); they
    are kept as bytes. `unique` is the job's id: the caller's, or a fresh UUID4
    hex when none is given, so that gearmand's persistent queues, which store
    a job under its unique id and function, keep every job.
    """

    function: bytes
    data: bytes
    unique: bytes
    priority: str
    background: bool
    # What gearmand sent back: not arguments, so dataclasses.replace() makes a fresh request for the job.
    handle: JobHandle | None = field(init=False)
    result: bytes | None = field(init=False)
    failed: bool = field(init=False)
    exception: bytes | None = field(init=False)
    warnings: list[bytes] = field(init=False)
    data_chunks: list[bytes] = field(init=False)
    status: tuple[int, int] | None = field(init=False)
    error: GearmanError | None = field(init=False)
    abandoned: bool = field(init=False)
    #: The id was made here, not given: such jobs are spread round-robin.
    generated_id: bool = field(init=False, repr=False)

    # Written out rather than generated: it takes str where the attributes hold
    # bytes, and it runs for every job of a batch, so it checks `type() is bytes`
    # first and sets every attribute once.
    def __init__(
        self,
        function: str | bytes,
        data: str | bytes = b"",
        unique: str | bytes | None = None,
        priority: str | None = "normal",
        background: bool = False,
    ) -> None:
        if type(function) is not bytes:
            function = to_bytes(function, "task name")
        if type(data) is not bytes:
            data = to_bytes(data, "job data")
        generated_id = not unique
        if generated_id:
            unique = new_job_id()
        elif type(unique) is not bytes:
            unique = to_bytes(unique, "unique id")
        if not function or b"\0" in function:
            raise ValueError(f"invalid task name {function!r}: must be non-empty, without NUL")
        if b"\0" in unique:
            raise ValueError(f"invalid unique id {unique!r}: must not contain NUL")
        if len(unique) > MAX_UNIQUE_SIZE:
            raise ValueError(
                f"unique id {unique[:16]!r}... is {len(unique)} bytes; gearmand keeps at most "
                f"{MAX_UNIQUE_SIZE} (a digest of a longer key fits: hashlib.blake2b(key, digest_size=20).hexdigest())"
            )
        if priority is None:
            priority = "normal"
        elif priority not in PRIORITIES:
            raise ValueError(f"invalid priority {priority!r}: expected one of {PRIORITIES}")
        self.function = function
        self.data = data
        self.unique = unique
        self.priority = priority
        self.background = background
        self.handle = None
        self.result = None
        self.failed = False
        self.exception = None
        self.warnings = []
        self.data_chunks = []
        self.status = None
        self.error = None
        self.abandoned = False
        self.generated_id = generated_id

    @property
    def packet(self) -> bytes:
        # Function and unique id were checked for NULs already: skip encode()'s checks.
        body = b"\0".join((self.function, self.unique, self.data))
        return HEADER.pack(REQ, SUBMIT_TYPES[self.priority, self.background], len(body)) + body

    @property
    def finished(self) -> bool:
        if self.error is not None:
            return True
        if self.background:
            return self.handle is not None
        return self.result is not None or self.failed

    def outcome(self) -> bytes | JobHandle:
        """The result (foreground) or handle (background); raises what went wrong.

        RuntimeError if there is neither yet (a job not sent, or not waited for).
        """
        if self.error is not None:
            raise self.error
        if self.failed:
            raise GearmanJobFailed(
                self.function.decode("utf-8", "replace"),
                _failure_text(self.exception, self.warnings),
                handle=str(self.handle) if self.handle else None,
                exception_data=self.exception,
                warnings=tuple(self.warnings),
            )
        if self.background:
            if self.handle is not None:
                return self.handle
        elif self.result is not None:
            return self.result
        raise RuntimeError(
            f"job {self.function.decode('utf-8', 'replace')!r} has no {'handle' if self.background else 'result'} "
            "yet: outcome() is for a job that submit_multiple_jobs sent and (in the foreground) waited for"
        )


def _failure_text(exception: bytes | None, warnings: list[bytes]) -> str:
    reason = exception if exception is not None else (warnings[-1] if warnings else b"")
    return reason.decode("utf-8", "replace")


class _Reply:
    """A request answered by one packet in order (GET_STATUS, ECHO_REQ, OPTION_REQ)."""

    __slots__ = ("args", "error")

    def __init__(self) -> None:
        self.args: tuple[bytes, ...] | None = None
        self.error: GearmanError | None = None

    @property
    def finished(self) -> bool:
        return self.args is not None or self.error is not None


class _Channel:
    """One thread's connection to one server and the requests in flight on it."""

    def __init__(self, address: ServerAddress, connect_timeout: float, connection_options: ConnectionOptions):
        self.address = address
        self.server = str(address)
        self.connection = Connection(address, connect_timeout, **connection_options)
        # gearmand answers a connection's requests in order, so replies that are
        # not about a job handle are matched to the oldest request awaiting one.
        self.awaiting: deque[JobRequest | _Reply] = deque()
        self.jobs: dict[str, list[JobRequest]] = {}
        self.used = False
        self.awaiting.append(_Reply())
        self.connection.send(_OPTION_EXCEPTIONS)

    def send(self, entries: Sequence[JobRequest | _Reply], payload: bytes) -> None:
        self.used = True
        self.awaiting.extend(entries)
        self.connection.send(payload)

    def dispatch(self, packet: Packet) -> None:
        kind, args = packet
        if kind == PacketType.JOB_CREATED:
            request = self.awaiting.popleft() if self.awaiting else self._next_awaiting(kind)
            if not isinstance(request, JobRequest):
                raise GearmanServerUnavailable(f"{self.server} answered out of order (JOB_CREATED)")
            handle = args[0].decode("latin-1")
            request.handle = JobHandle(handle, self.server, request.unique.decode("utf-8", "backslashreplace"))
            if not request.background and not request.abandoned:
                self.jobs.setdefault(handle, []).append(request)
        elif kind in _JOB_UPDATES:
            self._job_update(kind, args)
        elif kind == PacketType.ERROR:
            code, text = (arg.decode("utf-8", "replace") for arg in args)
            error = GearmanError(f"gearmand at {self.server} refused the request: {code} {text}".rstrip())
            request = self._next_awaiting(kind)
            request.error = error
        elif kind in (PacketType.STATUS_RES, PacketType.ECHO_RES, PacketType.OPTION_RES):
            reply = self._next_awaiting(kind)
            if not isinstance(reply, _Reply):
                raise GearmanServerUnavailable(f"{self.server} answered out of order ({PacketType(kind).name})")
            reply.args = args
        # Anything else (NOOP, ...) is not addressed to a client; ignore it.

    def _next_awaiting(self, kind: int) -> JobRequest | _Reply:
        if not self.awaiting:
            raise GearmanServerUnavailable(
                f"{self.server} sent {PacketType(kind).name} that answers no request"
            )
        return self.awaiting.popleft()

    def _job_update(self, kind: int, args: tuple[bytes, ...]) -> None:
        # Without OPTION_REQ exceptions gearmand 1.1 forwards WORK_EXCEPTION as a
        # WORK_FAIL whose handle ends in a NUL (the exception data is dropped).
        handle = args[0].split(b"\0", 1)[0].decode("latin-1")
        requests = self.jobs.get(handle)
        if requests is None:
            return  # a job we gave up on, or never had: drop it
        if type(args[-1]) is OversizedPayload:
            # The parser dropped it; the job ends here, and later packets for it are dropped too.
            del self.jobs[handle]
            error = GearmanPayloadTooLarge(f"{PacketType(kind).name} of job {handle} from {self.server}: {args[-1]}")
            for request in requests:
                request.error = error
            return
        if kind in _TERMINAL:
            del self.jobs[handle]
        for request in requests:
            if kind == PacketType.WORK_COMPLETE:
                request.result = args[1]
            elif kind == PacketType.WORK_FAIL:
                request.failed = True
            elif kind == PacketType.WORK_EXCEPTION:
                request.exception = args[1]
                request.failed = True
            elif kind == PacketType.WORK_DATA:
                request.data_chunks.append(args[1])
            elif kind == PacketType.WORK_WARNING:
                request.warnings.append(args[1])
            else:
                request.status = (_int(args[1]), _int(args[2]))

    def fail_all(self, error: GearmanError) -> None:
        """The connection is gone: everything still waiting on it gets `error`."""
        for entry in self.awaiting:
            entry.error = error
        for requests in self.jobs.values():
            for request in requests:
                request.error = error
        self.awaiting.clear()
        self.jobs.clear()

    def forget(self, request: JobRequest) -> None:
        request.abandoned = True
        if request.handle is not None:
            waiting = self.jobs.get(request.handle.handle)
            if waiting and request in waiting:
                waiting.remove(request)
                if not waiting:
                    del self.jobs[request.handle.handle]


def _int(value: bytes) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


_forks = 0


def _count_fork() -> None:
    global _forks
    _forks += 1


# Counting forks is free per call; os.getpid() is a system call on every job.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_count_fork)


def _channel_of(channels: dict[ServerAddress, _Channel], handle: JobHandle) -> _Channel | None:
    # A scan of a few channels is cheaper than parsing the handle's server.
    for channel in channels.values():
        if channel.server == handle.server:
            return channel
    return None


class _ThreadState:
    def __init__(self) -> None:
        self.forks = _forks
        self.channels: dict[ServerAddress, _Channel] = {}


class Client:
    """Submit jobs to one or more gearmand servers.

    Jobs given a unique id always start at the same server, so gearmand can
    coalesce them; jobs with a generated id are spread round-robin. A server
    that cannot be reached, or that stays silent for `submit_timeout` seconds
    while a job waits for its JOB_CREATED, is tried last for `retry_after`
    seconds, and the job goes to the next server (`None`: wait as long as
    it takes). With `ssl_context` every connection speaks TLS (see `Connection`).
    Job data and results longer than `max_payload_size` are refused
    (`GearmanPayloadTooLarge`).

    `on_long_wait(requests)`, if given, is called in the waiting thread, at
    most once per call, when foreground jobs waiting without a `poll_timeout`
    have heard nothing from their servers for `submit_timeout` seconds, with
    the jobs still unfinished (to find out, say, whether any worker serves
    them). It costs nothing until then; what it raises is logged, and the
    jobs go on waiting.
    """

    def __init__(
        self,
        servers: Iterable[str | ServerAddress],
        *,
        connect_timeout: float = 2.0,
        retry_after: float = 5.0,
        submit_timeout: float | None = 5.0,
        on_long_wait: Callable[[Sequence[JobRequest]], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
    ):
        self.servers = tuple(ServerAddress.parse(server) for server in servers)
        if not self.servers:
            raise ValueError("a Gearman client needs at least one server")
        if submit_timeout is not None and not submit_timeout > 0:
            raise ValueError(f"submit_timeout must be a positive number of seconds or None, not {submit_timeout!r}")
        self.connect_timeout = connect_timeout
        self.retry_after = retry_after
        self.submit_timeout = submit_timeout
        self.on_long_wait = on_long_wait
        self.max_payload_size = max_payload_size
        self._connection_options = ConnectionOptions(
            read_timeout=submit_timeout, ssl_context=ssl_context, server_hostname=server_hostname,
            max_payload_size=max_payload_size,
        )
        self._local = threading.local()
        self._down_until: dict[ServerAddress, float] = {}
        self._rotation = itertools.count()

    # -- public API ---------------------------------------------------------

    def submit_job(
        self,
        function: str | bytes,
        data: str | bytes = b"",
        *,
        unique: str | bytes | None = None,
        priority: str | None = None,
        background: bool = False,
        poll_timeout: float | None = None,
    ) -> bytes | JobHandle:
        """Run one job: the result for a foreground job, the handle for a background one.

        `poll_timeout` (seconds, None: no limit) bounds the whole call, as in python-gearman.
        """
        request = JobRequest(function, data, unique or b"", priority or "normal", background)
        self.submit_multiple_jobs([request], poll_timeout=poll_timeout)
        return request.outcome()

    def submit_multiple_jobs(
        self,
        requests: Sequence[JobRequest],
        *,
        wait_until_complete: bool = True,
        poll_timeout: float | None = None,
    ) -> Sequence[JobRequest]:
        """Submit all requests pipelined, then (if `wait_until_complete`) wait for every foreground one.

        Never raises for a single job: each request's `error`, `failed` and
        `result` tell its fate (`outcome()` turns them into a value or an
        exception), so one failure does not hide the others' results.
        """
        deadline = None if poll_timeout is None else time.monotonic() + poll_timeout
        self._refuse_oversized(requests)
        try:
            self._create(requests, deadline)
            if wait_until_complete:
                foreground = [request for request in requests if not request.background]
                if foreground:
                    self._wait(foreground, deadline)
        except GearmanTimeout:
            self._abandon(requests, poll_timeout)
        return requests

    def get_job_status(self, handle: JobHandle | str, *, poll_timeout: float | None = 10.0) -> JobStatus:
        """Ask the server that created the job how it is doing."""
        if isinstance(handle, str):
            handle = JobHandle.from_string(handle)
        address = ServerAddress.parse(handle.server)
        if address not in self.servers:
            raise ValueError(
                f"job handle {handle} belongs to {address}, which is not one of this client's servers"
            )
        reply = self._ask(address, encode(PacketType.GET_STATUS, handle.handle.encode("latin-1")), poll_timeout)
        _, known, running, numerator, denominator = reply
        return JobStatus(known == b"1", running == b"1", _int(numerator), _int(denominator))

    def echo(self, data: bytes = b"ping", *, server: str | ServerAddress | None = None,
             poll_timeout: float | None = 5.0) -> float:
        """Round-trip `data` through ECHO_REQ; returns the seconds it took."""
        address = ServerAddress.parse(server) if server is not None else self.servers[0]
        started = time.perf_counter()
        reply = self._ask(address, encode(PacketType.ECHO_REQ, data), poll_timeout)
        if reply[0] != data:
            raise GearmanServerUnavailable(f"{address} echoed different bytes")
        return time.perf_counter() - started

    def close(self) -> None:
        """Close this thread's connections (other threads' close when they end).

        Jobs still waiting on them (sent with `wait_until_complete=False`) fail.
        """
        state = self._state()
        for channel in state.channels.values():
            channel.connection.close()
            channel.fail_all(GearmanError(
                f"the connection to {channel.server} was closed (Client.close()) before this job finished"
            ))
        state.channels.clear()

    # -- internals ----------------------------------------------------------

    def _refuse_oversized(self, requests: Sequence[JobRequest]) -> None:
        limit = self.max_payload_size
        for request in [request for request in requests if len(request.data) > limit]:
            if request.handle is None and request.error is None:
                request.error = GearmanPayloadTooLarge(
                    f"job data for {request.function.decode('utf-8', 'replace')!r} is "
                    f"{OversizedPayload(len(request.data), limit)}"
                )

    def _state(self) -> _ThreadState:
        state = getattr(self._local, "state", None)
        if state is None or state.forks != _forks:
            # After fork() the parent's sockets are shared with the child; leave
            # them to the parent and start afresh.
            state = self._local.state = _ThreadState()
        return state

    def _channel(self, address: ServerAddress) -> _Channel:
        state = getattr(self._local, "state", None)
        if state is None or state.forks != _forks:
            state = self._state()
        channel = state.channels.get(address)
        if channel is None or channel.connection.closed:
            channel = state.channels[address] = _Channel(address, self.connect_timeout, self._connection_options)
        return channel

    def _candidates(self, unique: bytes | None) -> Sequence[ServerAddress]:
        servers = self.servers
        count = len(servers)
        if count == 1:
            return servers
        start = next(self._rotation) % count if unique is None else zlib.crc32(unique) % count
        ordered = [servers[(start + offset) % count] for offset in range(count)]
        now = time.monotonic()
        # Servers that recently failed go last, not away: one may be back.
        return sorted(ordered, key=lambda address: self._down_until.get(address, 0) > now)

    def _pick_channel(self, unique: bytes | None, excluded: dict[ServerAddress, str]) -> _Channel:
        """A channel to the first server for `unique` (None: the next in turn) not yet excluded."""
        for address in self._candidates(unique):
            if excluded and address in excluded:
                continue
            try:
                return self._channel(address)
            except GearmanServerUnavailable as exc:
                self._mark_down(address, exc)
                excluded[address] = str(exc)
        raise GearmanServerUnavailable("no Gearman server took the job: " + "; ".join(excluded.values()))

    def _mark_down(self, address: ServerAddress, error: Exception) -> None:
        # Logged once per outage: the mark is cleared only when the server acknowledges a job.
        if address not in self._down_until:
            logger.warning("gearmand at %s is unavailable (%s); trying the others", address, error)
        self._down_until[address] = time.monotonic() + self.retry_after

    def _drop(self, channel: _Channel, error: GearmanError) -> None:
        channel.connection.close()
        channel.fail_all(error)
        state = self._state()
        if state.channels.get(channel.address) is channel:
            del state.channels[channel.address]

    def _create(self, requests: Sequence[JobRequest], deadline: float | None) -> None:
        """Send every request and wait for its JOB_CREATED, failing over between servers."""
        pending = [request for request in requests if request.handle is None and request.error is None]
        # What happened at each server given up on during this call: the error if all fail.
        excluded: dict[ServerAddress, str] = {}
        reconnected: set[ServerAddress] = set()
        while pending:
            groups = self._group_by_channel(pending, excluded)
            pending = []
            for channel, group in groups.items():
                reused = channel.used
                try:
                    channel.send(group, b"".join([request.packet for request in group]))
                    # gearmand answers in order: once the last has its answer, all have.
                    answered = self._await_created(channel, group[-1], deadline)
                except GearmanServerUnavailable as exc:
                    self._drop(channel, exc)
                    # A kept-alive connection may just be stale (gearmand restarted):
                    # try that server once more on a fresh one before moving on.
                    if reused and channel.address not in reconnected:
                        reconnected.add(channel.address)
                    else:
                        self._give_up_on(channel.address, exc, f"{exc} after the job was sent", excluded)
                else:
                    if answered:
                        if self._down_until:
                            self._down_until.pop(channel.address, None)
                        continue
                    silent = GearmanServerUnavailable(
                        f"gearmand at {channel.server} did not answer within {self.submit_timeout} s"
                    )
                    self._drop(channel, silent)  # its late JOB_CREATED must not reach these requests
                    self._give_up_on(channel.address, silent, str(silent), excluded)
                for request in group:
                    if request.handle is None and not request.abandoned:
                        request.error = None
                        pending.append(request)

    def _give_up_on(self, address: ServerAddress, error: GearmanError, what: str,
                    excluded: dict[ServerAddress, str]) -> None:
        """Skip `address` for the rest of this call and for a while after it."""
        self._mark_down(address, error)
        excluded[address] = f"{what}: it may have been queued there"

    def _await_created(self, channel: _Channel, last: JobRequest, deadline: float | None) -> bool:
        """Read until gearmand answered `last`; False if it stayed silent for `submit_timeout`.

        Without the caller's deadline, the socket's own receive timeout bounds
        the silence, at no cost per read. GearmanTimeout: the caller's time is up.
        """
        patience = self.submit_timeout
        while last.handle is None and last.error is None:
            limit = deadline
            if deadline is not None and patience is not None:
                limit = min(deadline, time.monotonic() + patience)
            try:
                packets = channel.connection.receive(limit)
            except GearmanTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                return False
            for packet in packets:
                channel.dispatch(packet)
        return True

    def _group_by_channel(
        self, requests: list[JobRequest], excluded: dict[ServerAddress, str]
    ) -> dict[_Channel, list[JobRequest]]:
        if len(self.servers) == 1:
            # One server: the choice is the same for every job of a batch.
            try:
                return {self._pick_channel(None, excluded): requests}
            except GearmanServerUnavailable as exc:
                for request in requests:
                    request.error = exc
                return {}
        groups: dict[_Channel, list[JobRequest]] = {}
        for request in requests:
            try:
                channel = self._pick_channel(None if request.generated_id else request.unique, excluded)
            except GearmanServerUnavailable as exc:
                request.error = exc
                continue
            groups.setdefault(channel, []).append(request)
        return groups

    def _wait(self, requests: Sequence[JobRequest], deadline: float | None) -> None:
        by_channel: dict[_Channel, list[JobRequest]] = {}
        channels = self._state().channels
        for request in requests:
            if request.finished:
                continue
            assert request.handle is not None  # _create gave every unfinished job its handle or an error
            channel = _channel_of(channels, request.handle)
            if channel is None:
                # Its results go to the connection it was sent on (dropped ones fail their jobs).
                request.error = GearmanError(
                    f"job {request.function.decode('utf-8', 'replace')!r} ({request.handle}) was sent on a "
                    "connection this thread does not have (another thread's, or the parent process's before "
                    "fork()): it cannot be waited for here"
                )
                continue
            by_channel.setdefault(channel, []).append(request)
        if not by_channel:
            return
        # Jobs to report to on_long_wait if their servers fall silent (once: then None).
        unreported = requests if deadline is None and self.on_long_wait is not None else None
        if len(by_channel) == 1:
            ((channel, group),) = by_channel.items()
            try:
                self._wait_on(channel, group, deadline, unreported)
            except GearmanServerUnavailable:
                pass  # every request on it now carries that error
            return
        with selectors.DefaultSelector() as selector:
            for channel, group in by_channel.items():
                selector.register(channel.connection.sock, selectors.EVENT_READ, (channel, group))
            while selector.get_map():
                if deadline is None:
                    remaining = self.submit_timeout  # a wake-up for on_long_wait, not a limit
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise GearmanTimeout("jobs did not finish in time")
                ready = selector.select(remaining)
                if not ready and unreported is not None:
                    self._report_long_wait(unreported)
                    unreported = None
                for key, _ in ready:
                    channel, group = key.data
                    try:
                        for packet in channel.connection.receive(deadline):
                            channel.dispatch(packet)
                    except GearmanServerUnavailable as exc:
                        self._drop(channel, exc)
                    if all(request.finished for request in group):
                        selector.unregister(key.fileobj)

    def _wait_on(self, channel: _Channel, waiting: Sequence[JobRequest | _Reply], deadline: float | None,
                 unreported: Sequence[JobRequest] | None = None) -> None:
        """Read from one channel until everything `waiting` finished; a lost connection fails what waits on it.

        Without a deadline, the first time the socket's receive timeout passes,
        the `unreported` jobs still waiting go to `on_long_wait`.
        """
        try:
            while not all(entry.finished for entry in waiting):
                try:
                    packets = channel.connection.receive(deadline)
                except GearmanTimeout:
                    if deadline is not None:
                        raise
                    if unreported is not None:
                        self._report_long_wait(unreported)
                        unreported = None
                    continue  # only the socket's receive timeout: a job may run longer than that
                for packet in packets:
                    channel.dispatch(packet)
        except GearmanServerUnavailable as exc:
            self._drop(channel, exc)
            raise

    def _report_long_wait(self, requests: Sequence[JobRequest]) -> None:
        hook = self.on_long_wait
        if hook is None:
            return
        try:
            hook([request for request in requests if not request.finished])
        except Exception:
            logger.exception("on_long_wait %r raised; the jobs go on waiting", hook)

    def _abandon(self, requests: Sequence[JobRequest], timeout: float | None) -> None:
        channels = self._state().channels
        sent_to: dict[int, str] | None = None
        for request in requests:
            if request.finished:
                continue
            if request.handle is not None:
                where = f"handle {request.handle}"
            else:
                if sent_to is None:
                    sent_to = {id(entry): channel.server for channel in channels.values() for entry in channel.awaiting}
                server = sent_to.get(id(request))
                where = f"sent to {server}, not acknowledged: it may have been queued there" if server else "not sent"
            request.error = GearmanTimeout(
                f"job {request.function.decode('utf-8', 'replace')!r} did not finish within {timeout} s ({where})"
            )
            request.abandoned = True
            if request.handle is not None:
                channel = _channel_of(channels, request.handle)
                if channel is not None:
                    channel.forget(request)

    def _ask(self, address: ServerAddress, payload: bytes, timeout: float | None) -> tuple[bytes, ...]:
        deadline = None if timeout is None else time.monotonic() + timeout
        for attempt in range(2):
            channel = self._channel(address)
            reused = channel.used
            reply = _Reply()
            try:
                channel.send([reply], payload)
                self._wait_on(channel, [reply], deadline)
            except GearmanServerUnavailable as exc:
                self._drop(channel, exc)
                if reused and attempt == 0:
                    continue
                raise
            except GearmanTimeout:
                # The reply may still come; it must not be taken for the next one's.
                self._drop(channel, GearmanTimeout("abandoned"))
                raise
            if reply.error is not None:
                raise reply.error
            assert reply.args is not None  # finished, and not by an error
            return reply.args
        raise AssertionError("unreachable")
