"""A TCP relay on 127.0.0.1 that tests put in front of a server: a base for the packet
recorder (support.protocol) and for reaching a server inside a network namespace (support.netns)."""

from __future__ import annotations

import selectors
import socket
import threading


class TcpRelay:
    """Listens on 127.0.0.1 (`port`, or a free one) and relays every connection it accepts,
    byte for byte and in one thread, to a fresh connection from `open_upstream()`.

    Subclasses say where upstream is, and may watch the bytes in `relayed()`; they set
    what those need before calling `__init__`, which starts relaying at once.
    """

    def __init__(self, port: int = 0, name: str = "tcp-relay"):
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_reader, selectors.EVENT_READ, "stop")
        self._connections = 0
        self._thread = threading.Thread(target=self._relay, name=name, daemon=True)
        self._thread.start()

    def open_upstream(self) -> socket.socket:
        """A new connection to the server behind the relay."""
        raise NotImplementedError

    def relayed(self, connection: int, direction: str, data: bytes) -> None:
        """Called in the relay's thread with the bytes of `connection` (numbered from 0 in
        accept order) before they are passed on; `direction` is "out" (towards upstream) or "in"."""

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
        try:
            upstream = self.open_upstream()
        except OSError:
            peer.close()  # as a refused connection would end
            return
        upstream.settimeout(None)
        for sock in (peer, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        number = self._connections
        self._connections += 1
        self._selector.register(peer, selectors.EVENT_READ, (upstream, number, "out"))
        self._selector.register(upstream, selectors.EVENT_READ, (peer, number, "in"))

    def _forward(self, source, destination, number, direction) -> None:
        try:
            data = source.recv(65536)
        except OSError:
            data = b""
        if data:
            self.relayed(number, direction, data)
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
