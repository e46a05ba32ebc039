"""Test helpers for the protocol suite: waiting for workers, worker threads, a recording proxy."""

from __future__ import annotations

import socket
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
