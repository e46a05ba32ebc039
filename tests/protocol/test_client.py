"""The blocking client against real gearmand."""

from __future__ import annotations

import os
import random
import resource
import signal
import socket
import threading
import time
import uuid

import pytest
from support.gearmand import function_status, total_jobs
from support.processes import ForkedChild
from support.protocol import wait_registered
from support.waiting import wait_for

from django_gearman.protocol import (
    Client,
    GearmanError,
    GearmanJobFailed,
    GearmanServerUnavailable,
    GearmanTimeout,
    JobHandle,
    JobRequest,
    JobStatus,
    PacketType,
    ProtocolError,
    ServerAddress,
    encode,
)
from django_gearman.protocol.connection import Connection

BINARY = bytes(range(256)) * 4


def reverse(job):
    return job.data[::-1]


def enqueue(client: Client, data: bytes = b"") -> JobHandle:
    """A background job for a function no worker serves: it stays queued."""
    return client.submit_job("queued", data, background=True, poll_timeout=10)


@pytest.fixture
def reverser(gearmand, run_worker):
    return run_worker([gearmand], {"reverse": reverse})


# -- foreground and background jobs ------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"", BINARY, b"\0", "žluťoučký kůň 🐎".encode(), random.Random(1).randbytes(1024 * 1024)],
    ids=["empty", "all-bytes", "nul", "utf8", "1MiB"],
)
def test_foreground_job_returns_the_result_byte_exact(client, reverser, payload):
    assert client.submit_job("reverse", payload, poll_timeout=10) == payload[::-1]


def test_str_arguments_are_sent_as_utf8(client, reverser):
    assert client.submit_job("reverse", "kůň 🐎", poll_timeout=10) == "kůň 🐎".encode()[::-1]


def test_background_job_returns_its_handle_and_runs(client, gearmand, run_worker):
    received = []
    run_worker([gearmand], {"record": lambda job: received.append(job.data)})
    handle = client.submit_job("record", BINARY, background=True, poll_timeout=10)
    assert isinstance(handle, JobHandle)
    assert handle.server == gearmand.address
    assert handle.handle.startswith("H:")
    wait_for(lambda: received == [BINARY], message="the background job to run")


def test_job_handle_survives_a_string_round_trip():
    handle = JobHandle("H:host:42", "127.0.0.1:4730", job_id="4f2a")
    assert str(handle) == "H:host:42@127.0.0.1:4730"  # as stored before handles had an id
    assert JobHandle.from_string(str(handle)) == handle
    assert JobHandle.from_string(str(handle)).job_id == ""
    with pytest.raises(ValueError, match="not a job handle"):
        JobHandle.from_string("H:host:42")


# -- job ids ---------------------------------------------------------------------


@pytest.mark.parametrize("background", [True, False], ids=["background", "foreground"])
def test_every_job_carries_an_id_that_the_worker_sees(client, gearmand, run_worker, background):
    seen = []
    run_worker([gearmand], {"record": lambda job: seen.append(job.unique)})
    requests = [JobRequest("record", b"%d" % n, background=background) for n in range(3)]
    requests.append(JobRequest("record", b"mine", unique="order-17", background=background))
    client.submit_multiple_jobs(requests, poll_timeout=10)
    wait_for(lambda: len(seen) == 4, message="all four jobs")
    ids = [request.handle.job_id for request in requests]
    assert sorted(seen) == sorted(job_id.encode() for job_id in ids)
    assert ids[3] == "order-17"
    generated = ids[:3]
    assert len(set(generated)) == 3
    assert all(uuid.UUID(hex=job_id).hex == job_id and uuid.UUID(hex=job_id).version == 4 for job_id in generated)
    assert [request.unique.decode() for request in requests] == ids


def test_submit_job_returns_the_id_on_the_handle(client):
    handle = enqueue(client)
    assert len(handle.job_id) == 32
    assert client.submit_job("queued", b"", unique="given", background=True, poll_timeout=10).job_id == "given"


def test_a_persistent_queue_keeps_every_background_job_across_a_crash(gearmand_factory, tmp_path, run_worker):
    """gearmand stores a queued job under (unique id, function): without ids, each job overwrote the last."""
    server = gearmand_factory("-q", "libsqlite3", "--libsqlite3-db", str(tmp_path / "queue.sqlite3"))
    client = Client([server.address])
    # SQLite commits every job on its own: a few hundred keep this quick on a busy disk.
    batch = [JobRequest("durable", b"%d" % n, background=True) for n in range(150)]
    client.submit_multiple_jobs(batch, poll_timeout=60)
    one_by_one = [client.submit_job("durable", b"%d" % n, background=True, poll_timeout=60) for n in range(150, 200)]
    sent = {request.handle.job_id for request in batch} | {handle.job_id for handle in one_by_one}
    client.close()
    server.kill()
    server.start()
    kept = function_status(server, "durable").total
    ran = []
    run_worker([server], {"durable": lambda job: ran.append(job.unique.decode())})
    wait_for(lambda: len(ran) >= kept and total_jobs(server, "durable") == 0, timeout=60,
             message="the worker to drain the queue")
    print(f"background jobs 200 (distinct ids {len(sent)}), kept across SIGKILL {kept}, ran {len(ran)}, "
          f"lost {len(sent - set(ran))}, run twice {len(ran) - len(set(ran))}")
    assert kept == 200
    assert sorted(ran) == sorted(sent)


@pytest.mark.parametrize("unique", ["x" * 64, "ž" * 32, b"\xff" * 100], ids=["64-ascii", "64-utf8", "100-bytes"])
def test_a_unique_id_longer_than_gearmand_keeps_is_refused_before_sending(refused_address, unique):
    with pytest.raises(ValueError, match="is (64|100) bytes; gearmand keeps at most 63"):
        JobRequest("f", b"", unique=unique)
    # Refused before any connection is tried: the server here would refuse one.
    with pytest.raises(ValueError, match="gearmand keeps at most 63"):
        Client([refused_address]).submit_job("f", b"", unique=unique, background=True)


def test_a_63_byte_unique_id_and_its_data_arrive_intact(client, gearmand, run_worker):
    """gearmand cuts a 64-byte id to 63 and then garbles the data after it; 63 is the most it keeps."""
    seen = []
    run_worker([gearmand], {"record": lambda job: seen.append((job.unique, job.data))})
    client.submit_job("record", b"payload", unique=b"u" * 62 + b"!", poll_timeout=10)
    assert seen == [(b"u" * 62 + b"!", b"payload")]


def test_get_job_status_follows_a_background_job(client, gearmand, run_worker):
    release = threading.Event()

    def progress(job):
        job.send_status(3, 10)
        release.wait(10)

    handle = client.submit_job("progress", b"", background=True, poll_timeout=10)
    assert client.get_job_status(handle) == JobStatus(known=True, running=False, numerator=0, denominator=0)
    run_worker([gearmand], {"progress": progress})
    status = wait_for(lambda: (s := client.get_job_status(str(handle))).numerator == 3 and s, message="progress")
    assert status == JobStatus(known=True, running=True, numerator=3, denominator=10)
    assert status.fraction == 0.3
    release.set()
    wait_for(lambda: not client.get_job_status(handle).known, message="the job to finish")


@pytest.mark.parametrize("background", [True, False], ids=["background", "foreground"])
def test_higher_priority_jobs_run_first(client, gearmand, run_worker, background):
    order = []
    requests = [
        JobRequest("ordered", priority, priority=priority, background=background)
        for priority in ("low", "normal", "high")
    ]
    client.submit_multiple_jobs(requests, wait_until_complete=False, poll_timeout=10)
    run_worker([gearmand], {"ordered": lambda job: order.append(job.data)})
    client.submit_multiple_jobs(requests, poll_timeout=10)  # waits for the foreground ones
    wait_for(lambda: len(order) == 3, message="all three jobs")
    assert order == [b"high", b"normal", b"low"]
    assert all(request.error is None for request in requests)


def test_duplicate_unique_ids_in_one_batch_run_once(client, gearmand, run_worker):
    calls = []

    def count(job):
        calls.append(job.data)
        return b"result of " + job.data

    requests = [JobRequest("count", b"first", unique="same") for _ in range(3)]
    requests.append(JobRequest("count", b"other", unique="other"))
    # gearmand merges a duplicate only into a job still queued or running, so
    # the worker starts after all are created: else a fast one may finish the
    # first before gearmand reads the second, which then runs again.
    client.submit_multiple_jobs(requests, wait_until_complete=False, poll_timeout=10)
    run_worker([gearmand], {"count": count})
    client.submit_multiple_jobs(requests, poll_timeout=10)
    assert [request.result for request in requests] == [b"result of first"] * 3 + [b"result of other"]
    assert sorted(calls) == [b"first", b"other"]
    assert len({request.handle for request in requests[:3]}) == 1


def test_duplicate_unique_ids_in_a_background_batch_share_one_job(client, gearmand):
    requests = [JobRequest("queued", b"x", unique="dup", background=True) for _ in range(3)]
    client.submit_multiple_jobs(requests, poll_timeout=10)
    assert len({request.handle for request in requests}) == 1
    assert function_status(gearmand, "queued").total == 1


def test_a_job_without_its_result_or_handle_yet_has_no_outcome(client, gearmand):
    """Not None, which a caller would take for the result."""
    foreground, background = JobRequest("nobody"), JobRequest("nobody", background=True)
    with pytest.raises(RuntimeError, match="job 'nobody' has no handle yet: outcome"):
        background.outcome()
    client.submit_multiple_jobs([foreground, background], wait_until_complete=False, poll_timeout=10)
    assert background.handle is not None
    assert background.outcome() == background.handle
    with pytest.raises(RuntimeError, match="job 'nobody' has no result yet: outcome"):
        foreground.outcome()


def test_a_job_waiting_on_a_connection_that_close_closed_fails(client, gearmand):
    request = JobRequest("nobody")
    client.submit_multiple_jobs([request], wait_until_complete=False, poll_timeout=10)
    client.close()
    client.submit_job("queued", b"", background=True, poll_timeout=10)  # a new connection to that server
    client.submit_multiple_jobs([request], poll_timeout=5)
    with pytest.raises(GearmanError, match=rf"the connection to {gearmand.address} was closed \(Client.close\(\)\) "
                                           "before this job finished"):
        request.outcome()


def test_a_job_sent_by_another_thread_is_not_waited_for_in_this_one(client, gearmand, in_background):
    request = JobRequest("nobody")
    in_background(client.submit_multiple_jobs, [request], wait_until_complete=False, poll_timeout=10).result(10)
    client.submit_multiple_jobs([request], poll_timeout=5)
    with pytest.raises(GearmanError, match=rf"job 'nobody' \({request.handle}\) was sent on a connection this thread "
                                           "does not have"):
        request.outcome()


def test_jobs_with_one_unique_id_always_start_at_the_same_server(gearmand_factory):
    servers = [gearmand_factory().address for _ in range(3)]
    client = Client(servers)
    for unique in ("a", "b", "c"):
        handles = [client.submit_job("queued", b"", unique=unique, background=True, poll_timeout=10) for _ in range(4)]
        assert len({handle.server for handle in handles}) == 1


# -- failures and the OPTION_REQ exceptions path ------------------------------


def raising(job):
    raise RuntimeError("kaput")


@pytest.mark.parametrize(
    ("callback", "message", "exception_data", "warnings"),
    [
        (lambda job: job.send_exception("ValueError: bad ž"), "ValueError: bad ž", "ValueError: bad ž".encode(), ()),
        (lambda job: job.send_fail("no disk"), "no disk", None, (b"no disk",)),
        (lambda job: job.send_fail(), "", None, ()),
        (raising, "RuntimeError: kaput", None, (b"RuntimeError: kaput",)),
    ],
    ids=["exception", "fail-with-reason", "bare-fail", "callback-raises"],
)
def test_failures_reach_the_client_with_their_reason(
    client, gearmand, run_worker, callback, message, exception_data, warnings
):
    run_worker([gearmand], {"fails": callback})
    with pytest.raises(GearmanJobFailed) as failure:
        client.submit_job("fails", b"", poll_timeout=10)
    assert failure.value.message == message
    assert failure.value.exception_data == exception_data
    assert failure.value.warnings == warnings
    assert failure.value.task == "fails"
    assert failure.value.handle.startswith("H:")


def test_without_option_req_gearmand_turns_an_exception_into_fail_with_nul(gearmand, run_worker):
    """What our client must parse when exceptions were not requested (see PROTOCOL-NOTES)."""
    run_worker([gearmand], {"exc": lambda job: job.send_exception(b"boom")})
    connection = Connection(ServerAddress.parse(gearmand.address))
    try:
        connection.send(encode(PacketType.SUBMIT_JOB, b"exc", b"", b""))
        packets = []
        while len(packets) < 2:
            packets += connection.receive(deadline=None)
    finally:
        connection.close()
    (created, (handle,)), (kind, args) = packets
    assert (created, kind) == (PacketType.JOB_CREATED, PacketType.WORK_FAIL)
    assert args == (handle + b"\0",)


def test_status_data_and_warnings_are_collected(client, gearmand, run_worker):
    def chatty(job):
        job.send_status(1, 2)
        job.send_data(b"chunk\0one")
        job.send_warning("careful ž")
        job.send_data(b"chunk two")
        return b"done"

    run_worker([gearmand], {"chatty": chatty})
    (request,) = client.submit_multiple_jobs([JobRequest("chatty")], poll_timeout=10)
    assert request.outcome() == b"done"
    assert request.status == (1, 2)
    assert request.data_chunks == [b"chunk\0one", b"chunk two"]
    assert request.warnings == ["careful ž".encode()]


def test_a_batch_reports_each_job_separately(client, gearmand, run_worker):
    run_worker([gearmand], {"reverse": reverse, "fails": raising})
    requests = [JobRequest("reverse", b"ab"), JobRequest("fails"), JobRequest("reverse", b"cd")]
    client.submit_multiple_jobs(requests, poll_timeout=10)
    assert [requests[0].outcome(), requests[2].outcome()] == [b"ba", b"dc"]
    with pytest.raises(GearmanJobFailed, match="kaput"):
        requests[1].outcome()


# -- timeouts and late replies ------------------------------------------------


def test_foreground_job_without_a_worker_times_out(client):
    with pytest.raises(GearmanTimeout, match=r"'nobody' did not finish within 0.2 s \(handle H:"):
        client.submit_job("nobody", b"", poll_timeout=0.2)


def test_every_blocking_call_times_out_on_a_silent_server(silent_server):
    client = Client([silent_server])
    with pytest.raises(GearmanTimeout):
        client.submit_job("f", b"", poll_timeout=0.2)
    with pytest.raises(GearmanTimeout):
        client.submit_job("f", b"", background=True, poll_timeout=0.2)
    with pytest.raises(GearmanTimeout):
        client.get_job_status(JobHandle("H:x:1", silent_server), poll_timeout=0.2)
    with pytest.raises(GearmanTimeout):
        client.echo(poll_timeout=0.2)
    (request,) = client.submit_multiple_jobs([JobRequest("f")], poll_timeout=0.2)
    assert isinstance(request.error, GearmanTimeout)
    assert f"(sent to {silent_server}, not acknowledged: it may have been queued there)" in str(request.error)


def test_a_timed_out_jobs_late_reply_does_not_disturb_the_next_call(client, gearmand, run_worker):
    release = threading.Event()
    finished = []

    def slow(job):
        if job.data == b"first":
            release.wait(10)
        finished.append(job.data)
        return b"result of " + job.data

    run_worker([gearmand], {"slow": slow})
    with pytest.raises(GearmanTimeout):
        client.submit_job("slow", b"first", poll_timeout=0.2)
    release.set()
    # Let the late WORK_COMPLETE reach our socket before the next call reads from it.
    wait_for(lambda: finished == [b"first"] and function_status(gearmand, "slow").total == 0, message="the late reply")
    assert client.submit_job("slow", b"second", poll_timeout=10) == b"result of second"
    assert client.submit_job("slow", b"third", poll_timeout=10) == b"result of third"


def test_results_are_routed_by_handle_not_by_arrival_order(client, gearmand, run_worker):
    second_started = threading.Event()
    completed = []

    def ordered(job):
        if job.data == b"first":
            second_started.wait(10)  # so "second" completes first
        else:
            second_started.set()
        completed.append(job.data)
        return b"result of " + job.data

    run_worker([gearmand], {"ordered": ordered})
    run_worker([gearmand], {"ordered": ordered})
    wait_registered(gearmand, "ordered", workers=2)  # else one worker would get both, in order
    requests = [JobRequest("ordered", b"first"), JobRequest("ordered", b"second")]
    client.submit_multiple_jobs(requests, poll_timeout=10)
    assert [request.outcome() for request in requests] == [b"result of first", b"result of second"]
    assert completed[0] == b"second"


# -- pipelined batches ---------------------------------------------------------


def test_background_batch_is_pipelined(gearmand, recorder):
    proxy = recorder(gearmand)
    client = Client([proxy.address])
    requests = [JobRequest("queued", b"%d" % n, background=True) for n in range(500)]
    client.submit_multiple_jobs(requests, poll_timeout=30)
    assert len({request.handle for request in requests}) == 500
    assert function_status(gearmand, "queued").total == 500
    sent_before_first_reply = 0
    for _, kind in proxy.entries(0):
        if kind == PacketType.JOB_CREATED:
            break
        sent_before_first_reply += kind == PacketType.SUBMIT_JOB_BG
    assert sent_before_first_reply > 1  # not one round trip per job


def test_foreground_batch_across_two_workers(client, gearmand, run_worker):
    run_worker([gearmand], {"reverse": reverse}, prefetch=4)
    run_worker([gearmand], {"reverse": reverse}, prefetch=4)
    requests = [JobRequest("reverse", os.urandom(n % 50)) for n in range(300)]
    client.submit_multiple_jobs(requests, poll_timeout=30)
    assert [request.outcome() for request in requests] == [request.data[::-1] for request in requests]


# -- several servers -----------------------------------------------------------


def test_get_job_status_asks_the_server_that_created_the_job(gearmand_factory):
    first, second = gearmand_factory(), gearmand_factory()
    handle = enqueue(Client([first.address]), b"")
    # The other server has no jobs; had the client asked it, the job would look unknown.
    assert Client([second.address, first.address]).get_job_status(handle).known
    with pytest.raises(ValueError, match="not one of this client's servers"):
        Client([second.address]).get_job_status(handle)


def test_round_robin_uses_every_server(gearmand_factory):
    servers = [gearmand_factory().address for _ in range(2)]
    client = Client(servers)
    handles = [enqueue(client) for _ in range(4)]
    assert {handle.server for handle in handles} == set(servers)
    assert all(client.get_job_status(handle).known for handle in handles)


def test_a_foreground_batch_waits_on_two_servers_at_once(gearmand_factory, run_worker):
    servers = [gearmand_factory().address, gearmand_factory().address]
    run_worker(servers, {"reverse": reverse})
    requests = [JobRequest("reverse", b"job %d" % n) for n in range(40)]
    Client(servers).submit_multiple_jobs(requests, poll_timeout=30)
    assert {request.handle.server for request in requests} == set(servers)
    assert [request.outcome() for request in requests] == [request.data[::-1] for request in requests]


def test_a_server_lost_while_a_batch_waits_fails_only_its_own_jobs(gearmand_factory, run_worker, in_background):
    doomed, alive = gearmand_factory(), gearmand_factory()
    release = threading.Event()

    def held(job):
        release.wait(30)
        return job.data[::-1]

    run_worker([alive], {"held": held})  # nobody serves doomed: its jobs stay queued
    requests = [JobRequest("held", b"job %d" % n) for n in range(6)]
    batch = in_background(Client([doomed.address, alive.address]).submit_multiple_jobs, requests, poll_timeout=30)
    wait_for(lambda: all(request.handle for request in requests), message="gearmand to create every job")
    on_doomed = [request for request in requests if request.handle.server == doomed.address]
    on_alive = [request for request in requests if request.handle.server == alive.address]
    assert on_doomed and on_alive

    doomed.kill()
    wait_for(lambda: all(request.error for request in on_doomed), message="the lost server's jobs to fail")
    assert not any(request.finished for request in on_alive)  # held: their results come after the loss
    release.set()
    batch.result(timeout=30)
    assert [request.outcome() for request in on_alive] == [request.data[::-1] for request in on_alive]
    for request in on_doomed:
        with pytest.raises(GearmanServerUnavailable, match=doomed.address):
            request.outcome()


def test_failover_skips_a_server_that_is_down(gearmand, refused_address, run_worker):
    client = Client([refused_address, gearmand.address])
    handles = [enqueue(client) for _ in range(6)]
    assert {handle.server for handle in handles} == {gearmand.address}
    run_worker([gearmand], {"reverse": reverse})
    assert client.submit_job("reverse", b"abc", poll_timeout=10) == b"cba"


def test_failover_when_a_server_dies_under_the_client(gearmand_factory):
    first, second = gearmand_factory(), gearmand_factory()
    client = Client([first.address, second.address])
    used = {enqueue(client).server for _ in range(2)}
    assert used == {first.address, second.address}
    first.kill()
    handles = [enqueue(client) for _ in range(6)]
    assert {handle.server for handle in handles} == {second.address}


def test_no_server_reachable(refused_address):
    client = Client([refused_address])
    with pytest.raises(GearmanServerUnavailable, match=f"no Gearman server took the job: cannot connect to gearmand "
                                                       f"at {refused_address}: .*refused$"):
        client.submit_job("f", b"", poll_timeout=5)
    (request,) = client.submit_multiple_jobs([JobRequest("f")], poll_timeout=5)
    assert isinstance(request.error, GearmanServerUnavailable)
    with pytest.raises(GearmanServerUnavailable):
        client.get_job_status(JobHandle("H:x:1", refused_address))


def test_client_reconnects_after_gearmand_restarts(client, gearmand):
    enqueue(client)
    gearmand.restart()
    handle = enqueue(client)
    assert client.get_job_status(handle).known


GARBAGE = b"HTTP/1.1 400 Bad Request\r\n\r\n"


def test_a_server_speaking_garbage_counts_as_lost_and_the_job_goes_to_the_next(gearmand, impostor, caplog):
    garbage = impostor(GARBAGE)
    client = Client([garbage.address, gearmand.address])
    handles = [enqueue(client) for _ in range(4)]
    print(f"jobs 4, on {gearmand.address}: {sum(h.server == gearmand.address for h in handles)}, "
          f"connections to the impostor: {garbage.connections}")
    assert {handle.server for handle in handles} == {gearmand.address}
    assert function_status(gearmand, "queued").total == 4
    # Marked down after the first garbage: later jobs go to the real server first.
    assert garbage.connections == 1
    (warning,) = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert f"{garbage.address} does not speak Gearman (bad packet magic b'HTTP'" in warning

    alone = Client([garbage.address])
    with pytest.raises(GearmanServerUnavailable, match=r"does not speak Gearman .* it may have been queued there"):
        alone.submit_job("f", b"", poll_timeout=5)
    with pytest.raises(GearmanServerUnavailable, match="does not speak Gearman") as failure:
        alone.echo(server=garbage.address)
    assert isinstance(failure.value.__cause__, ProtocolError)


# -- the submit deadline ---------------------------------------------------------


@pytest.fixture
def stopped(gearmand_factory):
    """A gearmand that is SIGSTOPped: it accepts connections (the kernel does) and answers nothing."""
    server = gearmand_factory()
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield server
    finally:
        os.kill(server.pid, signal.SIGCONT)


@pytest.mark.parametrize("poll_timeout", [None, 30], ids=["no-poll-timeout", "poll-timeout"])
def test_a_stopped_server_is_marked_down_and_the_job_goes_to_the_next(stopped, gearmand, caplog, poll_timeout):
    client = Client([stopped.address, gearmand.address], submit_timeout=0.3)
    handles = [client.submit_job("queued", b"%d" % n, background=True, poll_timeout=poll_timeout)
               for n in range(6)]
    assert {handle.server for handle in handles} == {gearmand.address}
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [f"gearmand at {stopped.address} is unavailable (gearmand at {stopped.address} did not "
                        "answer within 0.3 s); trying the others"]
    assert function_status(gearmand, "queued").total == 6

    # What "may have been queued there" means: the stopped server read the job once it ran again.
    os.kill(stopped.pid, signal.SIGCONT)
    late = wait_for(lambda: function_status(stopped, "queued"), message="the stopped server to catch up")
    print(f"jobs 6, on the live server {function_status(gearmand, 'queued').total}, "
          f"also queued on the stopped one once it ran again: {late.total}")
    assert late.total == 1


def test_a_lone_silent_server_fails_the_submit_saying_the_job_may_be_queued(stopped):
    client = Client([stopped.address], submit_timeout=0.3)
    with pytest.raises(GearmanServerUnavailable) as failure:
        client.submit_job("queued", b"", background=True)
    assert str(failure.value) == (f"no Gearman server took the job: gearmand at {stopped.address} did not answer "
                                  "within 0.3 s: it may have been queued there")
    (request,) = client.submit_multiple_jobs([JobRequest("queued", background=True)], poll_timeout=30)
    assert "it may have been queued there" in str(request.error)


def test_a_slow_foreground_job_is_not_mistaken_for_a_silent_server(gearmand, run_worker):
    """submit_timeout bounds the wait for JOB_CREATED, not for the result."""
    run_worker([gearmand], {"slow": lambda job: time.sleep(0.5) or b"done"})
    client = Client([gearmand.address], submit_timeout=0.1)
    assert client.submit_job("slow", b"") == b"done"
    assert client.submit_job("slow", b"", poll_timeout=10) == b"done"


class LongWaits:
    """An on_long_wait hook that records the functions of the jobs it is given, call by call."""

    def __init__(self, error: Exception | None = None):
        self.calls: list[list[bytes]] = []
        self.error = error

    def __call__(self, requests) -> None:
        self.calls.append([request.function for request in requests])
        if self.error is not None:
            raise self.error


def test_on_long_wait_gets_once_the_jobs_still_waiting_when_their_server_fell_silent(
        gearmand, run_worker, in_background):
    long_waits = LongWaits()
    client = Client([gearmand.address], submit_timeout=0.2, on_long_wait=long_waits)
    run_worker([gearmand], {"reverse": reverse})
    requests = [JobRequest("reverse", b"abc"), JobRequest("nobody", b"")]
    batch = in_background(client.submit_multiple_jobs, requests)
    wait_for(lambda: long_waits.calls, message="on_long_wait")
    time.sleep(1.0)  # five more silent periods: not reported again
    assert long_waits.calls == [[b"nobody"]]
    run_worker([gearmand], {"nobody": lambda job: b"at last"})
    batch.result(10)
    assert [request.outcome() for request in requests] == [b"cba", b"at last"]


def test_on_long_wait_is_not_called_when_jobs_finish_in_time_or_have_a_poll_timeout(gearmand, run_worker):
    long_waits = LongWaits()
    client = Client([gearmand.address], submit_timeout=0.2, on_long_wait=long_waits)
    run_worker([gearmand], {"slow": lambda job: time.sleep(0.1) or b"done"})
    assert [client.submit_job("slow", b"") for _ in range(3)] == [b"done"] * 3
    with pytest.raises(GearmanTimeout):
        client.submit_job("nobody", b"", poll_timeout=0.5)
    assert long_waits.calls == []


def test_on_long_wait_covers_a_batch_waiting_on_two_servers(gearmand_factory, run_worker, in_background):
    servers = [gearmand_factory().address, gearmand_factory().address]
    long_waits = LongWaits()
    client = Client(servers, submit_timeout=0.2, on_long_wait=long_waits)
    requests = [JobRequest("nobody", b"%d" % n) for n in range(4)]
    batch = in_background(client.submit_multiple_jobs, requests)
    wait_for(lambda: long_waits.calls, message="on_long_wait")
    assert {request.handle.server for request in requests} == set(servers)
    assert long_waits.calls == [[b"nobody"] * 4]
    run_worker(servers, {"nobody": lambda job: job.data})
    batch.result(10)
    assert [request.outcome() for request in requests] == [b"0", b"1", b"2", b"3"]


def test_an_on_long_wait_that_raises_is_logged_and_the_job_goes_on_waiting(gearmand, run_worker, in_background,
                                                                           caplog):
    client = Client([gearmand.address], submit_timeout=0.2, on_long_wait=LongWaits(RuntimeError("hook broke")))
    call = in_background(client.submit_job, "nobody", b"")
    wait_for(lambda: "hook broke" in caplog.text, message="the hook's error in the log")
    assert "raised; the jobs go on waiting" in caplog.text
    run_worker([gearmand], {"nobody": lambda job: b"done"})
    assert call.result(10) == b"done"


def test_submit_timeout_defaults_to_a_few_seconds_and_is_checked():
    assert Client(["127.0.0.1"]).submit_timeout == 5.0
    assert Client(["127.0.0.1"], submit_timeout=None).submit_timeout is None
    with pytest.raises(ValueError, match="submit_timeout must be a positive number of seconds or None, not 0"):
        Client(["127.0.0.1"], submit_timeout=0)


# -- sockets, threads, fork, many fds ---------------------------------------------


def test_every_socket_sets_tcp_nodelay_keepalive_and_a_user_timeout(client, gearmand, reverser):
    client.submit_job("reverse", b"", poll_timeout=10)
    (channel,) = client._state().channels.values()
    (link,) = reverser.worker._links
    for sock in (channel.connection.sock, link.connection.sock):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
        if hasattr(socket, "TCP_USER_TIMEOUT"):  # unacknowledged bytes are given up on after 2 minutes too
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 120_000


def test_one_client_shared_by_threads(client, gearmand, run_worker, in_background):
    run_worker([gearmand], {"reverse": reverse}, prefetch=8)
    run_worker([gearmand], {"reverse": reverse}, prefetch=8)

    def submit(thread_number):
        sent = [b"%d-%d" % (thread_number, job_number) for job_number in range(50)]
        return sent, [client.submit_job("reverse", data, poll_timeout=30) for data in sent]

    for call in [in_background(submit, n) for n in range(8)]:
        sent, results = call.result(timeout=60)
        assert results == [data[::-1] for data in sent]
    with pytest.raises(GearmanTimeout):
        client.submit_job("nobody", b"", poll_timeout=0.01)


def test_a_client_used_before_fork_works_in_parent_and_child(client, gearmand):
    enqueue(client, b"before fork")
    with ForkedChild(lambda: " ".join(enqueue(client, b"child").handle for _ in range(200)).encode()) as child:
        parent_handles = {enqueue(client, b"parent").handle for _ in range(200)}
        child_handles = set(child.report().decode().split())
    assert len(child_handles) == len(parent_handles) == 200
    assert not child_handles & parent_handles
    assert function_status(gearmand, "queued").total == 401


def test_client_and_worker_beyond_1024_file_descriptors(gearmand, run_worker):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 2048
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held = []
    try:
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        client = Client([gearmand.address])
        worker = run_worker([gearmand], {"reverse": reverse})
        assert client.submit_job("reverse", b"high fds", poll_timeout=10) == b"sdf hgih"
        (channel,) = client._state().channels.values()
        assert channel.connection.fileno() > 1024
        assert worker.worker._links[0].connection.fileno() > 1024
        requests = [JobRequest("reverse", b"%d" % n) for n in range(100)]
        client.submit_multiple_jobs(requests, poll_timeout=30)
        assert all(request.outcome() == request.data[::-1] for request in requests)
        worker.stop()
        client.close()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- argument checking -------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (("f\0g",), "invalid task name"),
        (("",), "invalid task name"),
        (("f", b"", "u\0"), "invalid unique id"),
        (("f", b"", b"", "urgent"), "invalid priority"),
    ],
)
def test_job_request_rejects_what_cannot_be_sent(arguments, error):
    with pytest.raises(ValueError, match=error):
        JobRequest(*arguments)


def test_job_data_must_be_bytes_or_str():
    with pytest.raises(TypeError, match="job data must be bytes or str, not int"):
        JobRequest("f", 5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("example.org", ServerAddress("example.org", 4730)),
        ("example.org:4731", ServerAddress("example.org", 4731)),
        ("[::1]:4732", ServerAddress("::1", 4732)),
        ("[::1]", ServerAddress("::1", 4730)),
        ("::1", ServerAddress("::1", 4730)),
        (("10.0.0.1", "4733"), ServerAddress("10.0.0.1", 4733)),
    ],
)
def test_server_address_forms(text, expected):
    assert ServerAddress.parse(text) == expected
    assert ServerAddress.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:x", "host:0", "host:70000", ":4730", "host:4730:1", "[::1]x"])
def test_server_address_rejects_nonsense(text):
    with pytest.raises(ValueError, match="invalid Gearman server"):
        ServerAddress.parse(text)


def test_client_needs_a_server():
    with pytest.raises(ValueError, match="at least one server"):
        Client([])
