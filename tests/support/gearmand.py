"""gearmand's view of functions and workers, as the tests read it, and addresses
that refuse connections."""

from __future__ import annotations

import contextlib
import socket

from django_gearman.protocol import AdminClient, FunctionStatus

from .waiting import wait_for


def function_status(server, function: str) -> FunctionStatus | None:
    """gearmand's `status` line for `function`, or None if it never heard of it."""
    with AdminClient(str(server), timeout=5) as admin:
        return next((row for row in admin.status() if row.function == function), None)


def total_jobs(server, function: str) -> int:
    """Jobs gearmand holds for `function`, queued or running (0 if it never heard of it)."""
    row = function_status(server, function)
    return row.total if row else 0


def wait_status(server, function: str, **expected: int) -> FunctionStatus:
    """Wait until gearmand's status line for `function` has the `expected` values,
    e.g. `queued=1, running=3` or `available_workers=2`; returns that line."""

    def reached():
        row = function_status(server, function)
        if row is not None and all(getattr(row, name) == value for name, value in expected.items()):
            return row
        return None

    return wait_for(reached, message=f"{function} on {server} to reach {expected}")


def unique_ids(server) -> list[str]:
    """The unique ids (job ids) of the jobs gearmand holds, from its admin command `show unique jobs`."""
    with socket.create_connection((server.host, server.port), timeout=5) as admin:
        admin.sendall(b"show unique jobs\n")
        reply = b""
        while not (reply == b".\n" or reply.endswith(b"\n.\n")):
            chunk = admin.recv(65536)
            assert chunk, f"gearmand at {server} closed the admin connection mid-reply: {reply!r}"
            reply += chunk
    return reply.decode().splitlines()[:-1]


def registered_functions(server) -> set[str]:
    """Every function some worker has registered with this gearmand."""
    with AdminClient(str(server), timeout=5) as admin:
        return {function for worker in admin.workers() for function in worker.functions}


@contextlib.contextmanager
def reserved_port():
    """A 127.0.0.1 port that refuses connections until the block ends.

    The port is bound and never listened on, so connecting is refused and no
    other socket (gearmand's, or a client's ephemeral one) can take it meanwhile.
    """
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def point_settings_at(settings, server) -> None:
    """Clients and workers of these Django settings use `server` only."""
    settings.GEARMAN_SERVERS = [str(server)]
    settings.GEARMAN_CLIENT_SERVERS = None
    settings.GEARMAN_WORKER_SERVERS = None
