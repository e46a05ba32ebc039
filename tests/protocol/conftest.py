"""Fixtures for the protocol suite. Everything here talks to real gearmand on 127.0.0.1."""

from __future__ import annotations

import pytest
from support.protocol import ImpostorServer, PacketRecorder, WorkerThread

from django_gearman.protocol import Client, Worker


@pytest.fixture
def client(gearmand):
    """A client of the `gearmand` fixture's server."""
    client = Client([gearmand.address])
    yield client
    client.close()


@pytest.fixture
def run_worker():
    """`run_worker(servers, {"name": callback or (callback, timeout)}, **Worker options)`.

    Returns a started `WorkerThread`; every one still running is stopped after the test.
    """
    threads: list[WorkerThread] = []

    def run(servers, functions, **options) -> WorkerThread:
        worker = Worker([str(server) for server in servers], **options)
        for name, callback in functions.items():
            callback, timeout = callback if isinstance(callback, tuple) else (callback, None)
            worker.register(name, callback, timeout)
        thread = WorkerThread(worker)
        thread.start()
        threads.append(thread)
        return thread

    yield run
    errors = []
    for thread in threads:
        if thread.is_alive() or thread.error is not None:
            try:
                thread.stop()
            except BaseException as exc:
                errors.append(exc)
    if errors:
        raise errors[0]


@pytest.fixture
def recorder():
    """`recorder(server)` puts a `PacketRecorder` proxy in front of it."""
    proxies: list[PacketRecorder] = []

    def start(server) -> PacketRecorder:
        proxies.append(PacketRecorder(server))
        return proxies[-1]

    yield start
    for proxy in proxies:
        proxy.close()


@pytest.fixture
def impostor():
    """`impostor(reply=b"")` starts an `ImpostorServer`; all are closed after the test."""
    servers: list[ImpostorServer] = []

    def start(reply: bytes = b"") -> ImpostorServer:
        servers.append(ImpostorServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
