"""A hostile (or broken) server that answers with garbage must not take the good servers down with it.

These rely on a ProtocolError from one server being handled as that server's connection
being lost (a client fails over, a worker reconnects with backoff), as any other failure is.
"""

from __future__ import annotations

import random

from support.fakes import HostileServer, is_garbage
from support.protocol import wait_registered
from support.waiting import wait_for

from django_gearman.protocol import Client, JobRequest, PacketType
from django_gearman.protocol.codec import HEADER, REQ, RES


def garbage(number: int) -> bytes:
    """The `number`th connection's garbage: never valid Gearman from its first packet on."""
    chooser = random.Random(number)
    junk = chooser.randbytes(chooser.randrange(0, 200))
    forms = [
        lambda: bytes([chooser.randrange(1, 256)]) + junk,  # not even a magic
        lambda: HEADER.pack(REQ, PacketType.NOOP, 0) + junk,  # a request's magic
        lambda: HEADER.pack(RES, chooser.choice([0, 5, 43, 2**31]), 0) + junk,  # no such type
        lambda: HEADER.pack(RES, PacketType.NO_JOB, 3) + b"abc" + junk,  # a body where none belongs
        lambda: HEADER.pack(RES, PacketType.JOB_ASSIGN_UNIQ, 5) + b"H:1\0f" + junk,  # arguments missing
        lambda: HEADER.pack(RES, PacketType.JOB_CREATED, 2**31) + junk,  # far over any limit
    ]
    data = chooser.choice(forms)()
    assert is_garbage(data)
    return data


def reverse(job):
    return job.data[::-1]


def test_a_worker_keeps_serving_gearmand_while_another_server_sends_garbage(gearmand, client, run_worker):
    with HostileServer(garbage) as hostile:
        worker = run_worker([hostile.address, gearmand], {"reverse": reverse}, min_backoff=0.01, max_backoff=0.05)
        wait_registered(gearmand, "reverse")
        requests = [JobRequest("reverse", b"job %d" % n) for n in range(200)]
        client.submit_multiple_jobs(requests, poll_timeout=30)
        done = sum(request.outcome() == request.data[::-1] for request in requests)
        wait_for(lambda: hostile.connections >= 5, message="the worker to keep reconnecting to the hostile server")
        print(f"jobs sent {len(requests)}, done {done}, garbage answers {hostile.connections}")
        assert done == len(requests)
        assert worker.is_alive() and worker.error is None


def test_a_client_with_a_hostile_server_and_a_good_one_submits_to_the_good_one(gearmand, run_worker):
    run_worker([gearmand], {"reverse": reverse})
    with HostileServer(garbage) as hostile:
        client = Client([hostile.address, gearmand.address])
        results = [client.submit_job("reverse", b"job %d" % n, poll_timeout=10) for n in range(20)]
        batch = [JobRequest("queued", b"%d" % n, background=True) for n in range(100)]
        client.submit_multiple_jobs(batch, poll_timeout=10)
        client.close()
        print(f"jobs sent {len(results) + len(batch)}, garbage answers {hostile.connections}")
        assert results == [(b"job %d" % n)[::-1] for n in range(20)]
        assert {request.outcome().server for request in batch} == {gearmand.address}
        assert hostile.connections >= 1
