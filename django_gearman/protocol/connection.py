"""A TCP (or TLS) connection to one gearmand speaking the binary protocol."""

from __future__ import annotations

import ipaddress
import math
import select
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import TypedDict, cast

from .codec import DEFAULT_MAX_PAYLOAD_SIZE, RES, Packet, PacketType, Parser, encode
from .errors import GearmanServerUnavailable, GearmanTimeout, GearmanTLSError, ProtocolError

DEFAULT_PORT = 4730
# Below glibc's mmap threshold (128 KiB): recv() allocates this much for every
# read, and a bigger buffer costs an mmap()/munmap() pair per read.
RECV_SIZE = 64 * 1024


@dataclass(frozen=True)
class ServerAddress:
    host: str
    port: int = DEFAULT_PORT

    @classmethod
    def parse(cls, value: str | tuple[str, int] | ServerAddress) -> ServerAddress:
        """Accept "host", "host:port", "[v6]:port" or a (host, port) pair."""
        if isinstance(value, ServerAddress):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return cls(str(value[0]), _port(value[1], value))
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"invalid Gearman server {value!r}: expected 'host' or 'host:port'")
        text = value.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if rest and not rest.startswith(":"):
                raise ValueError(f"invalid Gearman server {value!r}")
            return cls(host, _port(rest[1:], value) if rest else DEFAULT_PORT)
        if text.count(":") == 1:
            host, port = text.split(":")
            if not host:
                raise ValueError(f"invalid Gearman server {value!r}: empty host")
            return cls(host, _port(port, value))
        if ":" in text:
            try:
                ipaddress.IPv6Address(text)
            except ValueError:
                raise ValueError(
                    f"invalid Gearman server {value!r}: expected 'host:port' or '[IPv6 address]:port'"
                ) from None
        return cls(text)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(port: str | int, original: object) -> int:
    try:
        number = int(port)
    except (TypeError, ValueError):
        raise ValueError(f"invalid Gearman server {original!r}: port {port!r} is not a number") from None
    if not 0 < number < 65536:
        raise ValueError(f"invalid Gearman server {original!r}: port {number} is out of range")
    return number


#: A peer that vanished without closing (host down, cable pulled) is found
#: after about two minutes of silence instead of never.
KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 6}
#: Keepalive only probes a connection with nothing unacknowledged: bytes sent
#: into a partition (a result, a job request) would be retransmitted for about
#: 15 minutes. The kernel gives up on them after the same two minutes instead.
USER_TIMEOUT_MS = 120_000


def _enable_keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in {**KEEPALIVE, "TCP_USER_TIMEOUT": USER_TIMEOUT_MS}.items():
        if hasattr(socket, option):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


class ConnectionOptions(TypedDict, total=False):
    """What a `Client` or `Worker` passes to each `Connection` it makes."""

    read_timeout: float | None
    ssl_context: ssl.SSLContext | None
    server_hostname: str | None
    max_payload_size: int


class Connection:
    """One socket, its parser, and deadline-aware reads.

    Any socket failure, or bytes that are not Gearman, closes the connection
    and raises `GearmanServerUnavailable` naming the server, so callers only
    handle our own exception types and treat a garbling server like a lost one.
    A read without a deadline gives up with `GearmanTimeout` after
    `read_timeout` seconds without a byte (None: never). With an `ssl_context`
    it speaks TLS (to a terminator such as stunnel in front of gearmand),
    verifying the server as `server_hostname` (default: the address's host).
    """

    def __init__(
        self,
        address: ServerAddress,
        connect_timeout: float = 2.0,
        read_timeout: float | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE,
    ):
        self.address = address
        self.read_timeout = read_timeout
        self.parser = Parser(RES, max_payload_size)
        self.max_payload_size = max_payload_size
        try:
            sock = socket.create_connection((address.host, address.port), connect_timeout)
        except OSError as exc:
            raise GearmanServerUnavailable(f"cannot connect to gearmand at {address}: {exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _enable_keepalive(sock)
        self.tls = ssl_context is not None
        if ssl_context is not None:
            sock = _handshake(sock, address, ssl_context, server_hostname, connect_timeout)
        sock.settimeout(None)
        if read_timeout is not None and ssl_context is None:
            # The kernel bounds each blocking recv(): no extra system call per read.
            # (Python's ssl retries through it: a TLS read uses the socket's timeout instead.)
            seconds, microseconds = divmod(max(1, round(read_timeout * 1_000_000)), 1_000_000)  # 0 means never
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, microseconds))
        self.sock = sock  # kept after close(), closed: a Connection always has its socket
        self.closed = False
        # Deadlines are kept with poll() rather than settimeout(): the latter
        # costs two extra system calls per read, and poll() has no fd limit.
        self._poller = select.poll()
        self._poller.register(sock, select.POLLIN)
        if self.tls:
            self._confirm_tls(time.monotonic() + connect_timeout)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> None:
        if self.closed:
            raise GearmanServerUnavailable(f"connection to {self.address} is closed")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise self._lost(exc) from exc

    def receive(self, deadline: float | None = None) -> list[Packet]:
        """Wait for at least one recv's worth of bytes; return the whole packets in them."""
        data = self.read(deadline)
        try:
            return self.parser.feed(data)
        except ProtocolError as exc:
            self.close()
            raise GearmanServerUnavailable(f"{self.address} does not speak Gearman ({exc})") from exc
        except Exception:
            self.close()
            raise

    def read(self, deadline: float | None = None) -> bytes:
        """The next bytes from the server (at least one), waiting until `deadline` at most.

        A deadline already past still takes what has arrived. After a read
        nothing is left inside the TLS layer, so a selector or poll() on the
        socket tells the truth about whether more is there.
        """
        if self.closed:
            raise GearmanServerUnavailable(f"connection to {self.address} is closed")
        try:
            if self.tls:
                data = self._read_tls(deadline)
            else:
                if deadline is not None:
                    wait = max(0, math.ceil((deadline - time.monotonic()) * 1000))
                    if not self._poller.poll(wait):
                        raise GearmanTimeout(f"no reply from {self.address} in time")
                data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:  # read_timeout passed (SO_RCVTIMEO); the connection is still usable
            raise GearmanTimeout(f"no reply from {self.address} for {self.read_timeout} s") from None
        except GearmanTimeout:
            raise
        except OSError as exc:
            self.close()
            raise self._lost(exc) from exc
        if not data:
            self.close()
            raise GearmanServerUnavailable(f"gearmand at {self.address} closed the connection")
        return data

    def _read_tls(self, deadline: float | None) -> bytes:
        # Decrypted bytes can wait inside the SSL object while the fd shows
        # nothing, so poll() is no guide here: the socket's own timeout is.
        sock = cast(ssl.SSLSocket, self.sock)
        timeout = self.read_timeout
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 and not sock.pending() and not self._poller.poll(0):
                raise GearmanTimeout(f"no reply from {self.address} in time")
            timeout = max(remaining, 0.001)
        if timeout is not None:
            sock.settimeout(timeout)
        try:
            chunks = [sock.recv(RECV_SIZE)]
        except TimeoutError:
            raise GearmanTimeout(f"no reply from {self.address} within {timeout:.3g} s") from None
        finally:
            if timeout is not None:
                sock.settimeout(None)
        while chunks[-1] and sock.pending():
            chunks.append(sock.recv(RECV_SIZE))
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _confirm_tls(self, deadline: float) -> None:
        """One ECHO round trip: a TLS 1.3 server judges our certificate after the
        handshake is over on our side, and says so on the first read. Better here,
        as a connect error naming the reason, than as a lost job later."""
        try:
            self.send(encode(PacketType.ECHO_REQ, b"tls"))
            packets = self.receive(deadline)
            while not packets:
                packets = self.receive(deadline)
        except GearmanTimeout:
            self.close()
            raise GearmanServerUnavailable(
                f"gearmand at {self.address} did not answer through TLS within the connect timeout"
            ) from None
        except GearmanServerUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, ProtocolError) or getattr(cause, "reason", None) in _CERTIFICATE_ALERTS:
                raise  # the server's alert, or its garbage, says why
            # The server's alert can be lost to the reset that follows it.
            raise GearmanTLSError(
                f"gearmand at {self.address} closed the connection right after the TLS handshake: the server "
                "requires a client certificate, or refused this one (its log says which)"
            ) from exc
        if packets != [(PacketType.ECHO_RES, (b"tls",))]:
            self.close()
            raise GearmanServerUnavailable(f"{self.address} does not speak Gearman (its ECHO_RES: {packets!r})")

    def _lost(self, exc: OSError) -> GearmanServerUnavailable:
        if isinstance(exc, ssl.SSLError):
            return GearmanTLSError(f"TLS with gearmand at {self.address} failed: {_tls_reason(exc)}")
        return GearmanServerUnavailable(f"lost connection to {self.address}: {exc}")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.sock.close()


def _handshake(
    sock: socket.socket, address: ServerAddress, context: ssl.SSLContext, server_hostname: str | None, timeout: float
) -> ssl.SSLSocket:
    try:
        return context.wrap_socket(sock, server_hostname=server_hostname or address.host)
    except ssl.SSLError as exc:
        sock.close()
        raise GearmanTLSError(f"TLS handshake with gearmand at {address} failed: {_tls_reason(exc)}") from None
    except TimeoutError:
        sock.close()
        raise GearmanServerUnavailable(f"TLS handshake with gearmand at {address} took over {timeout} s") from None
    except OSError as exc:
        sock.close()
        raise GearmanTLSError(
            f"TLS handshake with gearmand at {address} failed: {exc.strerror or exc} (is it a TLS port?)"
        ) from None


#: OpenSSL's verify codes meaning "signed by no CA we trust".
_UNTRUSTED = {18, 19, 20, 21}
#: Alerts a server sends about our certificate, by OpenSSL's reason name.
_CERTIFICATE_ALERTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate, and none was sent",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused this client's certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the CA that signed this client's certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server says this client's certificate has expired",
}
_REASONS = {
    **_CERTIFICATE_ALERTS,
    "WRONG_VERSION_NUMBER": "the server did not answer in TLS (is it a plaintext port?)",
    "UNEXPECTED_EOF_WHILE_READING": "the server closed the connection (is it a TLS port?)",
}


def _tls_reason(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = f"the server's certificate was not accepted: {exc.verify_message}"
        if exc.verify_code in _UNTRUSTED:
            reason += " (it is not signed by a CA this client trusts)"
        return reason
    if isinstance(exc, ssl.SSLEOFError):
        return _REASONS["UNEXPECTED_EOF_WHILE_READING"]
    return _REASONS.get(exc.reason, exc.reason or str(exc))
