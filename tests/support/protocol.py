"""Test helpers for the protocol suite: waiting for workers, worker threads, a recording proxy."""

from __future__ import annotations

import selectors
import socket
import threading

from django_gearman.protocol import PacketType, Parser, Worker
from django_gearman.protocol.codec import REQ, RES

from .gearmand import wait_status


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


class PacketRecorder:
    """A TCP proxy in front of gearmand that logs each packet it relays, in relay order.

    Because every byte passes through one thread, the log order respects
    causality: a packet a peer sent in reaction to another is logged after it.
    Entries are (connection number, "out" for peer-to-gearmand or "in", packet type).
    """

    def __init__(self, upstream):
        self.upstream = (upstream.host, upstream.port)
        self.log: list[tuple[int, str, PacketType]] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_reader, selectors.EVENT_READ, "stop")
        self._connections = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._relay, name="packet-recorder", daemon=True)
        self._thread.start()

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

    def close(self) -> None:
        self._wake_writer.send(b"x")
        self._thread.join(10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()
        self._selector.close()
        self._wake_writer.close()

    def _relay(self) -> None:
        while True:
            for key, _ in self._selector.select():
                if key.data == "stop":
                    return
                if key.data == "accept":
                    self._accept()
                else:
                    self._forward(key.fileobj, *key.data)

    def _accept(self) -> None:
        peer, _ = self._listener.accept()
        peer.setblocking(True)
        server = socket.create_connection(self.upstream)
        for sock in (peer, server):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        number = self._connections
        self._connections += 1
        self._selector.register(peer, selectors.EVENT_READ, (server, number, "out", Parser(REQ)))
        self._selector.register(server, selectors.EVENT_READ, (peer, number, "in", Parser(RES)))

    def _forward(self, source, destination, number, direction, parser) -> None:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if data:
            with self._lock:
                self.log.extend((number, direction, PacketType(kind)) for kind, _ in parser.feed(data))
            try:
                destination.sendall(data)
                return
            except OSError:
                pass
        # One side hung up: hang up the other, as a direct connection would.
        for sock in (source, destination):
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass  # already closed in this same round of events
            sock.close()
