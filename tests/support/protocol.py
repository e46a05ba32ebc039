"""Test helpers for the protocol suite: waiting for workers, worker threads, a recording
proxy, and servers that are not gearmand."""

from __future__ import annotations

import selectors
import socket
import struct
import threading

from django_gearman.protocol import PacketType, Parser, Worker
from django_gearman.protocol.codec import REQ, RES

from .gearmand import wait_status
from .relay import TcpRelay


def wait_registered(server, function: str, workers: int = 1) -> None:
    """Wait until gearmand counts `workers` workers able to do `function`."""
    wait_status(server, function, available_workers=workers)


class WorkerThread(threading.Thread):
    """Runs `worker.work()`; `stop()` asks it to stop and insists that it does."""

    def __init__(self, worker: Worker):
        super().__init__(name="protocol-test-worker", daemon=True)
        self.worker = worker
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.worker.work()
        except BaseException as exc:  # surfaced by stop(), where the test can see it
            self.error = exc

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop()
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"worker did not stop within {timeout} s")
        self.worker.close()
        if self.error is not None:
            raise self.error


class PacketRecorder(TcpRelay):
    """A TCP proxy in front of gearmand that logs each packet it relays, in relay order.

    Because every byte passes through one thread, the log order respects
    causality: a packet a peer sent in reaction to another is logged after it.
    Entries are (connection number, "out" for peer-to-gearmand or "in", packet type).
    """

    def __init__(self, upstream):
        self.upstream = (upstream.host, upstream.port)
        self.log: list[tuple[int, str, PacketType]] = []
        self._parsers: dict[tuple[int, str], Parser] = {}
        self._lock = threading.Lock()
        super().__init__(name="packet-recorder")

    def open_upstream(self) -> socket.socket:
        return socket.create_connection(self.upstream)

    def relayed(self, connection: int, direction: str, data: bytes) -> None:
        parser = self._parsers.setdefault((connection, direction), Parser(REQ if direction == "out" else RES))
        with self._lock:
            self.log.extend((connection, direction, PacketType(kind)) for kind, _ in parser.feed(data))

    def packets(self, connection: int | None = None, direction: str | None = None) -> list[PacketType]:
        with self._lock:
            return [
                kind
                for number, way, kind in self.log
                if connection in (None, number) and direction in (None, way)
            ]

    def entries(self, connection: int) -> list[tuple[str, PacketType]]:
        with self._lock:
            return [(way, kind) for number, way, kind in self.log if number == connection]


class ImpostorServer:
    """A 127.0.0.1 listener that is not gearmand. With `reply`, each connection gets those
    bytes once the peer has sent something, and is closed after the peer hangs up; without,
    each connection is reset at once, as a TLS terminator spoken to in plaintext does.
    `connections` counts the connections accepted."""

    def __init__(self, reply: bytes = b""):
        self.reply = reply
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, name="impostor-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop listening (again: a no-op), so the port is free."""
        if self._thread.is_alive():
            self._wake_writer.send(b"x")
            self._thread.join(10)
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            sock.close()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ, "accept")
            selector.register(self._wake_reader, selectors.EVENT_READ, "stop")
            while True:
                for key, _ in selector.select():
                    if key.data == "stop":
                        return
                    connection, _ = self._listener.accept()
                    self.connections += 1
                    self._answer(connection)

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            if not self.reply:
                # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            connection.settimeout(5)
            try:
                connection.recv(65536)
                connection.sendall(self.reply)
                while connection.recv(65536):  # until the peer hangs up on the garbage
                    pass
            except OSError:
                pass
