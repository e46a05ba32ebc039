"""A Gearman worker: registers functions, grabs jobs, runs callbacks, reports back.

It serves every configured server from one thread. After a job it sends the
result and the next GRAB in one write, and only goes to sleep (PRE_SLEEP)
after gearmand said NO_JOB, so a busy worker pays one round trip per job.
A server that goes away, or sends bytes that are not Gearman, is reconnected
with capped exponential backoff and the functions are registered again; the
backoff is reset only once a new connection has answered.

A job gearmand assigned is never handed back by disconnecting unless the
process dies: gearmand counts that as a failed attempt and, under
`--job-retries`, deletes the job. So a stopping worker first runs what it
fetched ahead, and a job budget (`max_jobs`) is never exceeded by prefetch.
"""

from __future__ import annotations

import logging
import selectors
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable

from .codec import DEFAULT_MAX_PAYLOAD_SIZE, OversizedPayload, PacketType, encode, to_bytes
from .connection import Connection, ConnectionOptions, ServerAddress
from .errors import GearmanPayloadTooLarge, GearmanServerUnavailable, exception_message

logger = logging.getLogger("django_gearman.protocol.worker")

_GRAB = encode(PacketType.GRAB_JOB_UNIQ)
_PRE_SLEEP = encode(PacketType.PRE_SLEEP)

Callback = Callable[["Job"], "bytes | str | None"]


class Job:
    """A job this worker was assigned. The `send_*` methods report to the client."""

    __slots__ = ("handle", "function", "unique", "data", "finished", "_link", "_connection")

    def __init__(self, link: _ServerLink, connection: Connection, handle: bytes, function: bytes, unique: bytes,
                 data: bytes):
        self.handle = handle
        self.function = function
        self.unique = unique
        self.data = data
        self.finished = False
        self._link = link
        self._connection = connection  # the one it came on: reports go nowhere else

    def __repr__(self) -> str:
        job_id = f" id={self.unique.decode('utf-8', 'backslashreplace')}" if self.unique else ""
        return f"<Job {self.handle.decode('latin-1')} {self.function.decode('utf-8', 'replace')}{job_id}>"

    @property
    def server(self) -> str:
        return str(self._link.address)

    def send_status(self, numerator: int, denominator: int) -> None:
        self._send(PacketType.WORK_STATUS, str(int(numerator)).encode(), str(int(denominator)).encode())

    def send_data(self, data: bytes | str) -> None:
        self._send(PacketType.WORK_DATA, self._payload(data, "data"))

    def send_warning(self, data: bytes | str) -> None:
        self._send(PacketType.WORK_WARNING, self._payload(data, "warning"))

    def send_exception(self, data: bytes | str) -> None:
        """WORK_EXCEPTION ends the job in gearmand 1.1; only clients that asked for
        exceptions see the data, so prefer `send_fail(reason)` for mixed clients."""
        self._send(PacketType.WORK_EXCEPTION, self._payload(data, "exception"))
        self.finished = True

    def send_fail(self, reason: bytes | str | None = None) -> None:
        """WORK_FAIL, preceded by a WORK_WARNING carrying `reason` if given: every
        client (ours, the `gearman` CLI, PHP, Perl) then sees a failure and why."""
        packets = encode(PacketType.WORK_WARNING, self.handle, to_bytes(reason)) if reason is not None else b""
        self._write(packets + encode(PacketType.WORK_FAIL, self.handle))
        self.finished = True

    def send_complete(self, data: bytes | str | None = b"") -> None:
        self._write(self.complete_packet(data))
        self.finished = True

    def complete_packet(self, data: bytes | str | None) -> bytes:
        return encode(PacketType.WORK_COMPLETE, self.handle, self._payload(data, "result"))

    def _payload(self, data: bytes | str | None, what: str) -> bytes:
        payload = to_bytes(data)
        limit = self._connection.max_payload_size
        if len(payload) > limit:
            raise GearmanPayloadTooLarge(f"the {what} of {self!r} is {OversizedPayload(len(payload), limit)}")
        return payload

    def _send(self, kind: int, *args: bytes) -> None:
        if self.finished:
            raise RuntimeError(f"{self!r} already finished; it cannot send {PacketType(kind).name}")
        self._write(encode(kind, self.handle, *args))

    def _write(self, payload: bytes) -> None:
        if self._connection is not self._link.connection or self._connection.closed:
            logger.warning("%r: connection to %s was lost; gearmand hands the job to another worker", self, self.server)
            return
        try:
            self._connection.send(payload)
        except GearmanServerUnavailable as exc:
            logger.warning("%r: could not report to %s (%s)", self, self.server, exc)


class _ServerLink:
    """The worker's relationship with one server, across reconnects."""

    def __init__(self, address: ServerAddress, min_backoff: float):
        self.address = address
        self.connection: Connection | None = None
        self.outstanding = 0  # GRAB requests sent and not yet answered
        self.held = 0  # jobs assigned and not yet started
        self.asleep = False  # PRE_SLEEP sent; gearmand wakes it with NOOP
        self.retry_at = 0.0
        self.backoff = min_backoff
        self.failures = 0  # connections in a row that failed or never answered
        self.answered = False  # the current connection sent a valid packet
        self.ever_answered = False


class Worker:
    """Serve registered functions from one or more gearmand servers (over TLS with `ssl_context`).

    A job whose data, or a result whose size, is over `max_payload_size` fails
    with that reason; the worker goes on.
    """

    def __init__(
        self,
        servers: Iterable[str | ServerAddress],
        *,
        client_id: str | None = None,
        prefetch: int = 1,
        max_jobs: int | None = None,
        connect_timeout: float = 2.0,
        grab_timeout: float = 5.0,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        poll_interval: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
    ):
        """`max_jobs`: run that many jobs, then leave `work()`; never fetch more than are left.
        `grab_timeout`: how long a stopping worker waits for the answers to job requests
        it already sent (a job assigned in such an answer is run before it disconnects)."""
        addresses = [ServerAddress.parse(server) for server in servers]
        if not addresses:
            raise ValueError("a Gearman worker needs at least one server")
        if prefetch < 1:
            raise ValueError(f"prefetch must be at least 1, got {prefetch}")
        if max_jobs is not None and max_jobs < 1:
            raise ValueError(f"max_jobs must be at least 1 or None, got {max_jobs}")
        if client_id is not None and (not client_id or any(c.isspace() for c in client_id)):
            raise ValueError(f"invalid client id {client_id!r}: must be non-empty without whitespace")
        self.client_id = client_id
        self.prefetch = prefetch
        self.max_jobs = max_jobs
        self.jobs_run = 0
        self.connect_timeout = connect_timeout
        self.grab_timeout = grab_timeout
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.poll_interval = poll_interval
        self._connection_options = ConnectionOptions(
            ssl_context=ssl_context, server_hostname=server_hostname, max_payload_size=max_payload_size
        )
        self.functions: dict[bytes, tuple[Callback, int | None]] = {}
        self._links = [_ServerLink(address, min_backoff) for address in dict.fromkeys(addresses)]
        self._ready: deque[Job] = deque()
        self._stopping = False
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ, None)
        self._chore: tuple[float, Callable[[], object]] | None = None
        self._chore_due = 0.0

    # -- registration -------------------------------------------------------

    def register(self, function: str | bytes, callback: Callback, timeout: int | None = None) -> None:
        """Serve `function` with `callback(job)`; its return value is the result.

        `timeout` registers it with CAN_DO_TIMEOUT: gearmand 1.1 reads milliseconds
        (at least 1000) and, when a job runs longer, gives it to another worker.
        """
        name = to_bytes(function, "function name")
        if not name or b"\0" in name:
            raise ValueError(f"invalid function name {function!r}")
        self.functions[name] = (callback, timeout)
        self._broadcast(self._can_do(name, timeout))

    def unregister(self, function: str | bytes) -> None:
        name = to_bytes(function, "function name")
        self.functions.pop(name, None)
        self._broadcast(encode(PacketType.CANT_DO, name))

    @staticmethod
    def _can_do(name: bytes, timeout: int | None) -> bytes:
        if timeout:
            return encode(PacketType.CAN_DO_TIMEOUT, name, str(int(timeout)).encode())
        return encode(PacketType.CAN_DO, name)

    def _broadcast(self, payload: bytes) -> None:
        for link in self._links:
            if link.connection is not None:
                self._send(link, link.connection, payload)

    def every(self, interval: float, chore: Callable[[], object]) -> None:
        """Have `work()` also call `chore()` about every `interval` seconds, between jobs,
        busy or idle: for housekeeping that must not run while a job does. What it raises is logged."""
        if not interval > 0:
            raise ValueError(f"interval must be more than 0 seconds, got {interval}")
        self._chore = (interval, chore)
        self._chore_due = time.monotonic() + interval

    # -- running ------------------------------------------------------------

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Take no more jobs; finish the ones in hand and fetched ahead, then leave `work()`.
        Safe from signal handlers and threads."""
        self._stopping = True
        try:
            self._wake_writer.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already woken, or closed

    def work(self) -> None:
        """Serve jobs until `stop()` or `max_jobs`; jobs already fetched are run before it returns."""
        if not self.functions:
            raise ValueError("register at least one function before calling work()")
        try:
            while not self._stopping and (self.max_jobs is None or self.jobs_run < self.max_jobs):
                if self._chore is not None and time.monotonic() >= self._chore_due:
                    self._do_chore(*self._chore)
                if self._ready:
                    self._run(self._ready.popleft())
                    continue
                self._connect_due_links()
                self._wait_for_packets(self._poll_timeout())
            self._finish_fetched()
        finally:
            self._disconnect_all()
            # Reset here, not on entry: a stop() that came before work() (a
            # signal during start-up) must not be forgotten.
            self._stopping = False

    def close(self) -> None:
        self._disconnect_all()
        self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _do_chore(self, interval: float, chore: Callable[[], object]) -> None:
        try:
            chore()
        except Exception:
            logger.exception("%r raised", chore)
        self._chore_due = time.monotonic() + interval

    def _poll_timeout(self) -> float:
        now = time.monotonic()
        timeout = self.poll_interval
        if self._chore is not None:
            timeout = min(timeout, max(0.0, self._chore_due - now))
        for link in self._links:
            if link.connection is None:
                timeout = min(timeout, max(0.0, link.retry_at - now))
        return timeout

    def _wait_for_packets(self, timeout: float) -> None:
        for key, _ in self._selector.select(timeout):
            if key.data is None:
                self._drain_wake_socket()
            else:
                self._read(key.data)

    def _finish_fetched(self) -> None:
        """Run the jobs assigned to us and those in answers to GRABs already sent."""
        deadline = time.monotonic() + self.grab_timeout
        while True:
            if self._ready:
                self._run(self._ready.popleft())
                # Answers that came while it ran are buffered already: wait afresh for the rest.
                deadline = time.monotonic() + self.grab_timeout
                continue
            waiting = [link for link in self._links if link.connection is not None and link.outstanding]
            if not waiting:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                for link in waiting:
                    logger.warning("gearmand at %s did not answer %d job request(s) within %g s; disconnecting "
                                   "(a job it assigns now counts as a failed attempt)",
                                   link.address, link.outstanding, self.grab_timeout)
                return
            self._wait_for_packets(remaining)

    def _drain_wake_socket(self) -> None:
        try:
            while self._wake_reader.recv(64):
                pass
        except BlockingIOError:
            pass

    def _run(self, job: Job) -> None:
        link = job._link
        link.held -= 1
        if job._connection is not link.connection:
            return  # its connection died before we started: gearmand re-queued it
        self.jobs_run += 1
        callback, _ = self.functions.get(job.function, (None, None))
        payload = b""
        if callback is None:
            job.send_fail(b"this worker no longer serves " + job.function)
        elif type(job.data) is OversizedPayload:
            logger.warning("%r refused: its data is %s", job, job.data)
            job.send_fail(f"refused by the worker: the job data is {job.data}")
        else:
            try:
                result = callback(job)
                if not job.finished:
                    # Inside the try: a result that is not bytes fails this job, not the worker.
                    payload = job.complete_packet(result)
                    job.finished = True
            except Exception as exc:
                logger.exception("%r raised", job)
                if not job.finished:
                    job.send_fail(f"{type(exc).__name__}: {exception_message(exc)}")
        self._top_up(link, payload)

    def _top_up(self, link: _ServerLink, payload: bytes = b"") -> None:
        """Send `payload` together with enough GRABs to keep `prefetch` jobs coming."""
        if link.connection is not None and not self._stopping:
            wanted = self.prefetch - link.outstanding - link.held
            if self.max_jobs is not None:
                wanted = min(wanted, self._jobs_left(self.max_jobs))
            if wanted > 0:
                payload += _GRAB * wanted
                link.outstanding += wanted
                link.asleep = False
        if payload and link.connection is not None:
            self._send(link, link.connection, payload)

    def _jobs_left(self, max_jobs: int) -> int:
        """Jobs `max_jobs` still allows us to ask for: not run, assigned or asked for yet."""
        in_flight = sum(link.outstanding + link.held for link in self._links)
        return max_jobs - self.jobs_run - in_flight

    def _top_up_starved(self) -> None:
        """Under `max_jobs`, a link may have been denied GRABs: give it what was freed."""
        for link in self._links:
            if link.connection is not None and not link.asleep and not link.outstanding and not link.held:
                self._top_up(link)

    def _read(self, link: _ServerLink) -> None:
        connection = link.connection
        if connection is None:
            # Lost while another server's packets of the same round were handled
            # (a GRAB sent to it under max_jobs): its readiness is stale.
            return
        try:
            packets = connection.receive()
        except GearmanServerUnavailable as exc:
            self._lost(link, exc)
            return
        if packets and not link.answered:
            self._answered(link)
        for kind, args in packets:
            if kind == PacketType.JOB_ASSIGN_UNIQ:
                link.outstanding -= 1
                link.held += 1
                self._ready.append(Job(link, connection, *args))
            elif kind == PacketType.NO_JOB:
                link.outstanding -= 1
                if link.outstanding == 0 and link.held == 0 and not self._stopping:
                    link.asleep = True
                    self._send(link, connection, _PRE_SLEEP)
                    if self.max_jobs is not None:
                        self._top_up_starved()
            elif kind == PacketType.NOOP:
                link.asleep = False  # awake now, even if max_jobs lets it ask for nothing yet
                self._top_up(link)
            elif kind == PacketType.ERROR:
                error = b" ".join(args).decode("utf-8", "replace")
                logger.warning("gearmand at %s reported an error: %s", link.address, error)
            # ECHO_RES, OPTION_RES and the like need no action.

    def _send(self, link: _ServerLink, connection: Connection, payload: bytes) -> None:
        try:
            connection.send(payload)
        except GearmanServerUnavailable as exc:
            self._lost(link, exc)

    # -- connections --------------------------------------------------------

    def _connect_due_links(self) -> None:
        now = time.monotonic()
        for link in self._links:
            if link.connection is None and link.retry_at <= now and not self._stopping:
                self._connect(link)

    def _connect(self, link: _ServerLink) -> None:
        try:
            link.connection = Connection(link.address, self.connect_timeout, **self._connection_options)
        except GearmanServerUnavailable as exc:
            self._retry_later(link, exc, "retrying")
            return
        link.answered = False
        self._selector.register(link.connection.sock, selectors.EVENT_READ, link)
        payload = b"".join(self._can_do(name, timeout) for name, (_, timeout) in self.functions.items())
        if self.client_id:
            payload = encode(PacketType.SET_CLIENT_ID, self.client_id.encode()) + payload
        self._top_up(link, payload)

    def _answered(self, link: _ServerLink) -> None:
        """The first valid packet on a connection: only now is the server back (a peer
        that accepts and resets every connection never gets here)."""
        if link.ever_answered or link.failures:
            logger.warning("connected to gearmand at %s again", link.address)
        else:
            logger.info("connected to gearmand at %s", link.address)
        link.answered = link.ever_answered = True
        link.failures = 0
        link.backoff = self.min_backoff

    def _lost(self, link: _ServerLink, error: Exception) -> None:
        if link.connection is None:
            return
        self._close_link(link, link.connection)
        self._ready = deque(job for job in self._ready if job._link is not link)
        self._retry_later(link, error, "reconnecting")
        if self.max_jobs is not None:
            self._top_up_starved()

    def _retry_later(self, link: _ServerLink, error: Exception, doing: str) -> None:
        """Back off, doubling up to `max_backoff`; logged once per outage, not per attempt."""
        if link.failures == 0:
            logger.warning("%s; %s with backoff (up to %g s)", error, doing, self.max_backoff)
        link.failures += 1
        link.retry_at = time.monotonic() + link.backoff
        link.backoff = min(link.backoff * 2, self.max_backoff)

    def _close_link(self, link: _ServerLink, connection: Connection) -> None:
        link.connection = None
        link.outstanding = link.held = 0
        link.asleep = False
        # Found by link, not by connection.sock: a connection that failed has
        # already closed its socket, and a stale registration would refuse
        # the next socket that gets the same fd number.
        for key in list(self._selector.get_map().values()):
            if key.data is link:
                self._selector.unregister(key.fileobj)
        connection.close()

    def _disconnect_all(self) -> None:
        for link in self._links:
            if link.connection is not None:
                self._close_link(link, link.connection)
        self._ready.clear()
