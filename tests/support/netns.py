"""Network namespaces for partition tests: gearmand on one side of a link, workers or clients
on the other, and the link cut and restored by the test. Needs root (`ip netns add`), as CI has::

    def test_partition(network, start_worker):            # the `network` fixture, tests/conftest.py
        servers, workers = network.namespace("gearmand"), network.namespace("worker")
        link = network.link(servers, workers)              # 127.77.0.1 in servers, 127.77.0.2 in workers
        gearmand = servers.start_gearmand()                # a GearmandServer inside `servers`
        start_worker("-a", "shop", "-n", "worker", servers=[link.address(gearmand)],
                     prefix=workers.exec_prefix, registered_on=[gearmand])
        link.cut()                                         # packets between the two vanish
        link.restore()

- `gearmand.address` (127.0.0.1:PORT) works from the test process as usual: a relay on that
  port passes each connection to the same port on the loopback of `servers`, which the link
  does not carry, so the test's own clients, `AdminClient` and `wait_status` are never cut off.
- Processes in the second namespace reach it at `link.address(gearmand)` (127.77.N.1:PORT);
  run them there with `namespace.exec_prefix` (`ip netns exec NAME`, which keeps their pid).
- A link's addresses are 127.77.N.1 and 127.77.N.2 (N: the link's number). They are loopback
  addresses: outside the test's namespaces they are this machine's own, so nothing sent to them,
  even by mistake, leaves the machine; inside, `route_localnet` lets them cross the link.
- A link runs through a switch of its own (a bridge in a third namespace). `link.cut()` sets the
  switch's ports down: both sides merely lose carrier and see a partition as a network shows it,
  what they send vanishes (no reset, no ICMP error, no local "no route"; ARP entries are pinned,
  so `connect()` waits for its timeout), TCP retransmits in vain. `link.restore()` ends it.
  (Setting an end's own device down is no partition: its kernel then aborts connections that
  have unacknowledged data, and gearmand requeues the job at once.)
- Everything goes at the end, also when the test fails: gearmands stopped, processes still in
  the namespaces killed by pid (only this test can have started them), relays closed, namespaces
  deleted with their veth pairs. Names carry the pid: dgtest-PID-N-LABEL.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django_gearman.testing import GearmandServer

from .relay import TcpRelay

NETNS_DIR = Path("/var/run/netns")  # where `ip netns add` keeps its namespaces
CLONE_NEWNET = 0x40000000
_namespace_numbers = itertools.count()  # across every Network of this process


def _ip(*args: str) -> str:
    result = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} exited with {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def _enter_namespace(path: Path) -> None:
    """setns(2) for the calling thread only: its network namespace becomes the one at `path`."""
    with open(path) as handle:
        if hasattr(os, "setns"):  # Python 3.12
            os.setns(handle.fileno(), CLONE_NEWNET)
            return
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(handle.fileno(), CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns({path}): {os.strerror(error)}")


class Namespace:
    """One network namespace of a test (its loopback up), and what the test runs inside."""

    def __init__(self, name: str):
        self.name = name
        self._servers: list[GearmandServer] = []
        self._relays: list[TcpRelay] = []

    def __repr__(self) -> str:
        return f"<Namespace {self.name}>"

    @property
    def exec_prefix(self) -> tuple[str, ...]:
        """Put before a command to run it in this namespace (the process keeps its pid)."""
        return ("ip", "netns", "exec", self.name)

    def call(self, fn: Callable[..., Any], *args) -> Any:
        """`fn(*args)` in a thread of its own that entered this namespace: the sockets it makes
        belong here for good. Other threads of this process are not affected."""

        def inside():
            _enter_namespace(NETNS_DIR / self.name)
            return fn(*args)

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(inside).result()

    def connect(self, address: tuple[str, int], timeout: float = 5.0) -> socket.socket:
        """A TCP connection made from inside this namespace."""
        return self.call(socket.create_connection, address, timeout)

    def start_gearmand(self, *options: str) -> GearmandServer:
        """A gearmand inside this namespace, on all its addresses; its `address` works from here."""
        relay = _IntoNamespace(self)
        self._relays.append(relay)
        server = GearmandServer(*options, port=relay.port, listen="0.0.0.0", command_prefix=self.exec_prefix)
        self._servers.append(server)
        return server.start()

    def pids(self) -> list[int]:
        """The processes inside this namespace."""
        return [int(pid) for pid in _ip("netns", "pids", self.name).split()]

    def close(self, timeout: float = 10.0) -> None:
        """Stop what runs inside and delete the namespace (also if a process will not go)."""
        try:
            for server in self._servers:
                server.stop()
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + timeout
            while self.pids():  # a namespace outlives its name while a process is inside
                if time.monotonic() > deadline:
                    raise RuntimeError(f"processes {self.pids()} are still in {self.name} after SIGKILL")
                time.sleep(0.02)
        finally:
            for relay in self._relays:
                relay.close()
            _ip("netns", "delete", self.name)


class _IntoNamespace(TcpRelay):
    """127.0.0.1:PORT here to 127.0.0.1:PORT inside a namespace."""

    def __init__(self, namespace: Namespace):
        self.namespace = namespace
        super().__init__(name=f"relay-into-{namespace.name}")

    def open_upstream(self) -> socket.socket:
        return self.namespace.connect(("127.0.0.1", self.port))


class Link:
    """Two namespaces wired through a switch: 127.77.N.1 in `first`, 127.77.N.2 in `second`.

    Each end is a veth pair into a third namespace, the switch, whose bridge joins them.
    `cut()` sets the switch's two ports down, so both ends merely lose carrier: their
    devices, addresses and routes stay, no error reaches either kernel's TCP, and what
    either side sends vanishes, as on a real network (with ARP pinned, `connect()` waits
    for its timeout instead of failing with "no route to host").
    """

    def __init__(self, number: int, first: Namespace, second: Namespace, switch: Namespace):
        if not 0 <= number < 256:
            raise ValueError(f"at most 256 links per network, not {number + 1}")
        self.first, self.second, self.switch = first, second, switch
        self.device = f"veth{number}"  # the name of both ends, each in its own namespace
        self.first_address, self.second_address = f"127.77.{number}.1", f"127.77.{number}.2"
        _ip("-n", switch.name, "link", "add", "bridge", "type", "bridge")
        _ip("-n", switch.name, "link", "set", "bridge", "up")
        macs = {}
        ends = (("first", first, self.first_address), ("second", second, self.second_address))
        for port, namespace, address in ends:
            _ip("-n", switch.name, "link", "add", port, "type", "veth", "peer", "name", self.device,
                "netns", namespace.name)
            _ip("-n", switch.name, "link", "set", port, "master", "bridge", "up")
            _ip("-n", namespace.name, "address", "add", f"{address}/30", "dev", self.device)
            namespace.call(Path(f"/proc/sys/net/ipv4/conf/{self.device}/route_localnet").write_text, "1")
            _ip("-n", namespace.name, "link", "set", self.device, "up")
            macs[address] = json.loads(_ip("-j", "-n", namespace.name, "link", "show", self.device))[0]["address"]
        # Permanent neighbour entries, which a lost carrier leaves in place: no ARP, ever.
        for namespace, peer in ((first, self.second_address), (second, self.first_address)):
            _ip("-n", namespace.name, "neigh", "replace", peer, "lladdr", macs[peer], "dev", self.device,
                "nud", "permanent")

    def __repr__(self) -> str:
        return f"<Link {self.first.name} {self.first_address} - {self.second_address} {self.second.name}>"

    def address(self, server) -> str:
        """How processes in `second` reach `server` (a GearmandServer in `first`)."""
        return f"{self.first_address}:{server.port}"

    def cut(self) -> None:
        """From now on, what one side sends the other vanishes."""
        self._set_ports("down")

    def restore(self) -> None:
        self._set_ports("up")

    def _set_ports(self, state: str) -> None:
        for port in ("first", "second"):
            _ip("-n", self.switch.name, "link", "set", port, state)


class Network:
    """The namespaces and links of one test; `with Network() as network:` removes them all."""

    def __init__(self):
        if os.geteuid() != 0:
            raise RuntimeError("network namespace tests need root (ip netns add), as CI has")
        if shutil.which("ip") is None:
            raise RuntimeError("the ip command is missing; install it with: sudo apt-get install -y iproute2")
        self.namespaces: list[Namespace] = []
        self.links: list[Link] = []

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def namespace(self, label: str = "ns") -> Namespace:
        namespace = Namespace(f"dgtest-{os.getpid()}-{next(_namespace_numbers)}-{label}")
        _ip("netns", "add", namespace.name)
        self.namespaces.append(namespace)
        _ip("-n", namespace.name, "link", "set", "lo", "up")
        return namespace

    def link(self, first: Namespace, second: Namespace) -> Link:
        number = len(self.links)
        link = Link(number, first, second, switch=self.namespace(f"switch{number}"))
        self.links.append(link)
        return link

    def close(self) -> None:
        """Remove every namespace, even if removing one of them fails; then raise the first failure."""
        errors = []
        for namespace in reversed(self.namespaces):
            try:
                namespace.close()
            except (OSError, RuntimeError) as exc:
                errors.append(exc)
        self.namespaces.clear()
        if errors:
            raise errors[0]
