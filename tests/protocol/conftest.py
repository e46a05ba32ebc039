"""Fixtures for the protocol suite. Everything here talks to real gearmand on 127.0.0.1."""

from __future__ import annotations

import pytest
from support.protocol import ImpostorServer, PacketRecorder

from django_gearman.protocol import Client


@pytest.fixture
def client(gearmand):
    """A client of the `gearmand` fixture's server."""
    client = Client([gearmand.address])
    yield client
    client.close()


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
