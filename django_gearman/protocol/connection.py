"""A TCP connection to one gearmand speaking the binary protocol."""

from __future__ import annotations

import ipaddress
import math
import select
import socket
import struct
import time
from dataclasses import dataclass

from .codec import RES, Packet, Parser
from .errors import GearmanServerUnavailable, GearmanTimeout, ProtocolError

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


def _port(port, original) -> int:
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


def _enable_keepalive(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in KEEPALIVE.items():
        if hasattr(socket, option):  # Linux names; other systems keep their defaults
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


class Connection:
    """One socket, its parser, and deadline-aware reads.

    Any socket failure, or bytes that are not Gearman, closes the connection
    and raises `GearmanServerUnavailable` naming the server, so callers only
    handle our own exception types and treat a garbling server like a lost one.
    A read without a deadline gives up with `GearmanTimeout` after
    `read_timeout` seconds without a byte (None: never).
    """

    def __init__(self, address: ServerAddress, connect_timeout: float = 2.0, read_timeout: float | None = None):
        self.address = address
        self.read_timeout = read_timeout
        self.parser = Parser(RES)
        try:
            self.sock = socket.create_connection((address.host, address.port), connect_timeout)
        except OSError as exc:
            raise GearmanServerUnavailable(f"cannot connect to gearmand at {address}: {exc}") from exc
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _enable_keepalive(self.sock)
        self.sock.settimeout(None)
        if read_timeout is not None:
            # The kernel bounds each blocking recv(): no extra system call per read.
            # (Python's ssl retries through it, so a TLS socket would need poll() instead.)
            seconds, microseconds = divmod(max(1, round(read_timeout * 1_000_000)), 1_000_000)  # 0 means never
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", seconds, microseconds))
        # Deadlines are kept with poll() rather than settimeout(): the latter
        # costs two extra system calls per read, and poll() has no fd limit.
        self._poller = select.poll()
        self._poller.register(self.sock, select.POLLIN)

    @property
    def closed(self) -> bool:
        return self.sock is None

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> None:
        if self.sock is None:
            raise GearmanServerUnavailable(f"connection to {self.address} is closed")
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise GearmanServerUnavailable(f"lost connection to {self.address}: {exc}") from exc

    def receive(self, deadline: float | None = None) -> list[Packet]:
        """Wait for at least one recv's worth of bytes; return the whole packets in them."""
        if self.sock is None:
            raise GearmanServerUnavailable(f"connection to {self.address} is closed")
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poller.poll(math.ceil(remaining * 1000)):
                raise GearmanTimeout(f"no reply from {self.address} in time")
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:  # read_timeout passed (SO_RCVTIMEO); the connection is still usable
            raise GearmanTimeout(f"no reply from {self.address} for {self.read_timeout} s") from None
        except OSError as exc:
            self.close()
            raise GearmanServerUnavailable(f"lost connection to {self.address}: {exc}") from exc
        if not data:
            self.close()
            raise GearmanServerUnavailable(f"gearmand at {self.address} closed the connection")
        try:
            return self.parser.feed(data)
        except ProtocolError as exc:
            self.close()
            raise GearmanServerUnavailable(f"{self.address} does not speak Gearman ({exc})") from exc
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None
