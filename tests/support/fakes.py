"""Fake servers on 127.0.0.1 that send what a test scripts: replies gearmand would never
send, or garbage. Each runs in a thread and is stopped by `close()` (or `with`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable

from django_gearman.protocol import PacketType, Parser, ProtocolError
from django_gearman.protocol.codec import REQ, RES, encode


class FakeServer:
    """Accepts connections one after another; `serve(connection)` runs for each."""

    def __init__(self):
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.stopped = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, name=type(self).__name__, daemon=True)
        self._thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self.stopped.set()
        # Wake accept() and the peer-facing reads with a connection of our own.
        try:
            socket.create_connection(self._listener.getsockname(), timeout=1).close()
        except OSError:
            pass
        self._thread.join(10)
        self._listener.close()

    def serve(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while not self.stopped.is_set():
            connection, _ = self._listener.accept()
            if self.stopped.is_set():
                connection.close()
                return
            self.connections += 1
            with connection:
                connection.settimeout(0.2)
                try:
                    self.serve(connection)
                except OSError:
                    pass  # the peer hung up, or went quiet past the timeout

    def receive(self, connection: socket.socket) -> bytes:
        """What the peer sent next ("" once it hung up or the server stops)."""
        while not self.stopped.is_set():
            try:
                return connection.recv(65536)
            except TimeoutError:
                continue
        return b""


class FakeAdminServer(FakeServer):
    """Answers each admin command (its line, then the ECHO_REQ that AdminClient sends behind it)
    with the chunks `reply(command, echo)` yields, where `echo` is the ECHO_RES gearmand would
    send; `reply` returning None, or a chunk that is None, hangs up."""

    def __init__(self, reply: Callable[[str, bytes], Iterable[bytes] | None]):
        self.reply = reply
        super().__init__()

    def serve(self, connection: socket.socket) -> None:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pending = b""
        while not self.stopped.is_set():
            # A text command and our echo, or (AdminClient.ping) the echo alone.
            line, newline, rest = (b"ECHO_REQ", b"", pending) if pending.startswith(b"\0") else pending.partition(b"\n")
            packets = Parser(REQ).feed(rest) if newline or line == b"ECHO_REQ" else []
            if not packets:
                data = self.receive(connection)
                if not data:
                    return
                pending += data
                continue
            pending = b""
            (kind, (token,)), = packets
            assert kind == PacketType.ECHO_REQ
            chunks = self.reply(line.decode(), encode(PacketType.ECHO_RES, token, magic=RES))
            if chunks is None:
                return
            for chunk in chunks:
                if chunk is None or self.stopped.is_set():
                    return
                connection.sendall(chunk)


class HostileServer(FakeServer):
    """Answers every connection with `garbage(number)` (bytes that are not valid Gearman),
    then reads until the peer hangs up."""

    def __init__(self, garbage: Callable[[int], bytes]):
        self.garbage = garbage
        super().__init__()

    def serve(self, connection: socket.socket) -> None:
        if not self.receive(connection):
            return
        connection.sendall(self.garbage(self.connections))
        while self.receive(connection):
            pass


def is_garbage(data: bytes) -> bool:
    """True if a client's parser refuses `data` (so no peer could take it for a reply)."""
    try:
        Parser(RES).feed(data)
    except ProtocolError:
        return True
    return False
