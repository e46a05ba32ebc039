"""The worker loop against real gearmand."""

from __future__ import annotations

import select
import socket
import struct
import threading
import time

import pytest
from support.fakes import FakeServer
from support.gearmand import function_status, wait_status
from support.protocol import WorkerThread, wait_registered
from support.waiting import wait_for

from django_gearman.protocol import AdminClient, Client, GearmanJobFailed, JobRequest, PacketType, Parser, Worker
from django_gearman.protocol.codec import REQ, RES, encode

GRAB, NO_JOB, PRE_SLEEP = PacketType.GRAB_JOB_UNIQ, PacketType.NO_JOB, PacketType.PRE_SLEEP


def reverse(job):
    return job.data[::-1]


def queue_background(server, function: str, count: int) -> None:
    Client([str(server)]).submit_multiple_jobs(
        [JobRequest(function, b"%d" % n, background=True) for n in range(count)], poll_timeout=10
    )


# -- registration --------------------------------------------------------------


def test_can_do_timeout_makes_gearmand_requeue_a_stuck_job(client, gearmand, run_worker):
    """gearmand 1.1 does not fail a job whose CAN_DO_TIMEOUT expires: it queues it again."""
    release = threading.Event()
    attempts = []

    def stuck_once(job):
        attempts.append(job.handle)
        if len(attempts) == 1:
            release.wait(10)
        return b"attempt %d" % len(attempts)

    run_worker([gearmand], {"stuck": (stuck_once, 1)})
    request = JobRequest("stuck")
    client.submit_multiple_jobs([request], wait_until_complete=False, poll_timeout=10)
    wait_for(lambda: attempts, message="the first attempt")
    wait_status(gearmand, "stuck", running=0)  # gearmand requeued the job
    release.set()
    client.submit_multiple_jobs([request], poll_timeout=10)
    assert request.outcome() == b"attempt 2"
    assert attempts[0] == attempts[1]


def test_functions_and_client_id_are_registered(gearmand, run_worker):
    run_worker([gearmand], {"one": reverse, "two": reverse}, client_id="worker-7")
    wait_registered(gearmand, "two")
    with AdminClient(gearmand.address) as admin:
        (info,) = [worker for worker in admin.workers() if worker.client_id == "worker-7"]
    assert sorted(info.functions) == ["one", "two"]


def test_unregister_withdraws_a_function(client, gearmand, run_worker):
    def drop_other(job):
        job_worker.worker.unregister("other")

    job_worker = run_worker([gearmand], {"drop": drop_other, "other": reverse})
    wait_registered(gearmand, "other")
    client.submit_job("drop", b"", poll_timeout=10)
    wait_registered(gearmand, "other", workers=0)
    assert function_status(gearmand, "drop").available_workers == 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"prefetch": 0}, "prefetch must be at least 1"),
        ({"max_jobs": 0}, "max_jobs must be at least 1 or None"),
        ({"client_id": "two words"}, "invalid client id"),
    ],
)
def test_worker_rejects_bad_options(gearmand, options, error):
    with pytest.raises(ValueError, match=error):
        Worker([gearmand.address], **options)


def test_work_needs_a_registered_function(gearmand):
    with pytest.raises(ValueError, match="register at least one function"):
        Worker([gearmand.address]).work()


# -- the job loop ----------------------------------------------------------------


def test_next_job_is_grabbed_at_once_and_sleep_only_follows_no_job(gearmand, recorder, run_worker):
    proxy = recorder(gearmand)
    done = []
    queue_background(gearmand, "busy", 20)
    run_worker([proxy.address], {"busy": lambda job: done.append(job.data)})
    wait_for(lambda: proxy.packets(0, "out").count(PRE_SLEEP) == 1, message="the worker to go to sleep")
    assert len(done) == 20
    sent = proxy.packets(0, "out")
    # CAN_DO, GRAB, then WORK_COMPLETE + GRAB per job, then PRE_SLEEP: one round trip per job.
    assert sent == [PacketType.CAN_DO, GRAB] + [PacketType.WORK_COMPLETE, GRAB] * 20 + [PRE_SLEEP]
    assert proxy.packets(0, "in").count(NO_JOB) == 1

    queue_background(gearmand, "busy", 1)  # wakes the sleeping worker with NOOP
    wait_for(lambda: proxy.packets(0, "out").count(PRE_SLEEP) == 2, message="the worker to sleep again")
    assert len(done) == 21
    entries = proxy.entries(0)
    for index, (direction, kind) in enumerate(entries):
        if kind == PRE_SLEEP:
            last_received = [kind for direction, kind in entries[:index] if direction == "in"][-1]
            assert last_received == NO_JOB


@pytest.mark.parametrize("prefetch", [1, 4])
def test_prefetch_keeps_that_many_jobs_assigned(gearmand, run_worker, prefetch):
    release = threading.Event()
    done = []

    def blocked(job):
        release.wait(10)
        done.append(job.data)

    queue_background(gearmand, "blocked", 10)
    run_worker([gearmand], {"blocked": blocked}, prefetch=prefetch)
    # gearmand counts a job as running from the moment it is assigned to a worker.
    wait_status(gearmand, "blocked", running=prefetch)
    release.set()
    wait_for(lambda: len(done) == 10, message="all jobs")
    assert sorted(done) == sorted(b"%d" % n for n in range(10))


@pytest.mark.parametrize("retries", [None, 1], ids=["no-job-retries", "job-retries-1"])
def test_stopping_runs_the_jobs_fetched_ahead_and_asks_for_no_more(gearmand_factory, run_worker, retries):
    """gearmand counts a job handed back by disconnecting as a failed attempt: with
    --job-retries=1 it would delete every job fetched ahead and not run."""
    server = gearmand_factory(*([f"--job-retries={retries}"] if retries else []))
    in_hand, release = threading.Event(), threading.Event()
    first, second = [], []

    def blocked(job):
        in_hand.set()
        release.wait(10)
        first.append(job.data)

    queue_background(server, "jobs", 6)
    first_worker = run_worker([server], {"jobs": blocked}, prefetch=4)
    wait_status(server, "jobs", running=4)
    in_hand.wait(10)
    first_worker.worker.stop()
    release.set()
    first_worker.join(10)
    assert not first_worker.is_alive()
    # gearmand's status may lag behind the results the stopped worker sent (its connections are
    # served by several threads), so what it left queued is counted by the next worker instead.
    run_worker([server], {"jobs": lambda job: second.append(job.data)})
    wait_for(lambda: len(first) + len(second) >= 6, message="every job to run")
    print(f"queued 6, prefetch 4, stopped with one in hand: the stopping worker ran {len(first)}, "
          f"the next ran the {len(second)} left queued, lost {6 - len(first) - len(second)}")
    assert (len(first), len(second)) == (4, 2)  # the job in hand and the three fetched ahead
    assert sorted(first + second) == sorted(b"%d" % n for n in range(6))


@pytest.mark.parametrize("servers", [1, 2])
def test_max_jobs_is_never_exceeded_by_prefetch(gearmand_factory, run_worker, servers):
    """Held beyond the budget, a job would go back by disconnecting: under --job-retries=1, gone."""
    gearmands = [gearmand_factory("--job-retries=1") for _ in range(servers)]
    for server in gearmands:
        queue_background(server, "jobs", 3)
    ran, later = [], []
    limited = run_worker(gearmands, {"jobs": lambda job: ran.append(job.unique)}, prefetch=3, max_jobs=2)
    limited.join(10)
    assert not limited.is_alive()  # the budget ends work() by itself
    limited.worker.work()  # and a spent budget ends it at once
    queued = 3 * servers
    run_worker(gearmands, {"jobs": lambda job: later.append(job.unique)})  # counts what was left queued
    wait_for(lambda: len(ran) + len(later) >= queued, message="every job to run")
    print(f"queued {queued} on {servers} server(s), prefetch 3, max_jobs 2: ran {len(ran)}, "
          f"the next ran the {len(later)} left queued, lost {queued - len(ran) - len(later)}")
    assert (len(ran), len(later)) == (2, queued - 2)
    assert len(set(ran + later)) == queued


def test_a_stopping_worker_waits_for_unanswered_job_requests_only_so_long(silent_server, run_worker, caplog):
    worker = run_worker([silent_server], {"jobs": reverse}, grab_timeout=0.2)
    (link,) = worker.worker._links
    wait_for(lambda: link.connection is not None and link.outstanding == 1, message="the worker's GRAB")
    worker.stop()
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == [f"gearmand at {silent_server} did not answer 1 job request(s) within 0.2 s; disconnecting "
                        "(a job it assigns now counts as a failed attempt)"]


def test_stop_from_a_job_finishes_it_and_takes_no_other(client, gearmand, run_worker):
    def stop_after_this(job):
        job_worker.worker.stop()
        return b"last"

    job_worker = run_worker([gearmand], {"last": stop_after_this})
    assert client.submit_job("last", b"", poll_timeout=10) == b"last"
    job_worker.join(10)
    assert not job_worker.is_alive()
    client.submit_job("last", b"", background=True, poll_timeout=10)
    assert function_status(gearmand, "last").total == 1


def test_an_idle_worker_stops_promptly(gearmand, run_worker):
    idle = run_worker([gearmand], {"idle": reverse})
    wait_registered(gearmand, "idle")
    idle.stop(timeout=1.0)
    wait_registered(gearmand, "idle", workers=0)


def test_stop_before_work_starts_is_not_lost(gearmand):
    """A signal can arrive between installing the handler and entering work()."""
    worker = Worker([gearmand.address])
    worker.register("f", reverse)
    worker.stop()
    thread = WorkerThread(worker)
    thread.start()
    thread.join(5)
    try:
        assert not thread.is_alive()
    finally:
        thread.stop()


@pytest.mark.parametrize(
    ("returned", "expected"),
    [(b"bytes", b"bytes"), ("žluť", "žluť".encode()), (None, b""), (bytearray(b"\0\1"), b"\0\1")],
    ids=["bytes", "str", "none", "bytearray"],
)
def test_callback_return_value_is_the_result(client, gearmand, run_worker, returned, expected):
    run_worker([gearmand], {"returns": lambda job: returned})
    assert client.submit_job("returns", b"", poll_timeout=10) == expected


def test_a_result_that_is_not_bytes_fails_the_job_not_the_worker(client, gearmand, run_worker):
    run_worker([gearmand], {"answer": lambda job: 42 if job.data == b"int" else b"fine"})
    with pytest.raises(GearmanJobFailed, match="TypeError: job data must be bytes or str, not int"):
        client.submit_job("answer", b"int", poll_timeout=10)
    assert client.submit_job("answer", b"bytes", poll_timeout=10) == b"fine"


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("__str__ itself fails")


def test_an_exception_that_cannot_be_printed_fails_the_job_not_the_worker(client, gearmand, run_worker):
    def callback(job):
        if job.data == b"bad":
            raise Unprintable()
        return b"fine"

    run_worker([gearmand], {"fragile": callback})
    with pytest.raises(GearmanJobFailed, match=r"Unprintable: <Unprintable: str\(\) failed>"):
        client.submit_job("fragile", b"bad", poll_timeout=10)
    assert client.submit_job("fragile", b"good", poll_timeout=10) == b"fine"


def test_job_carries_what_the_client_sent(client, gearmand, run_worker):
    seen = []
    run_worker([gearmand], {"inspect": lambda job: seen.append((job.function, job.unique, job.data, job.server))})
    client.submit_job("inspect", b"\0data\xff", unique="unique-1", poll_timeout=10)
    assert seen == [(b"inspect", b"unique-1", b"\0data\xff", gearmand.address)]


def test_nothing_can_be_sent_after_a_job_finished(client, gearmand, run_worker):
    errors = []

    def twice(job):
        job.send_complete(b"first")
        try:
            job.send_data(b"too late")
        except RuntimeError as exc:
            errors.append(str(exc))
        return b"ignored"

    run_worker([gearmand], {"twice": twice})
    assert client.submit_job("twice", b"", poll_timeout=10) == b"first"
    # The client may hear WORK_COMPLETE before the callback gets further.
    wait_for(lambda: errors, message="the refused send")
    assert "already finished" in errors[0]


# -- several servers and reconnects ------------------------------------------------


def test_one_worker_serves_several_servers(gearmand_factory, run_worker):
    servers = [gearmand_factory() for _ in range(3)]
    run_worker(servers, {"reverse": reverse})
    for server in servers:
        result = Client([server.address]).submit_job("reverse", server.address, poll_timeout=10)
        assert result == server.address.encode()[::-1]


@pytest.mark.parametrize("crash", [True, False], ids=["killed", "stopped"])
def test_idle_worker_serves_again_after_gearmand_restarts(client, gearmand, run_worker, crash):
    served_by = []

    def record_thread(job):
        served_by.append(threading.current_thread())
        return reverse(job)

    worker = run_worker([gearmand], {"reverse": record_thread})
    wait_registered(gearmand, "reverse")
    if crash:
        gearmand.kill()
    gearmand.restart()
    wait_registered(gearmand, "reverse")
    assert client.submit_job("reverse", b"again", poll_timeout=15) == b"niaga"
    assert served_by == [worker]
    assert worker.is_alive() and worker.error is None


def test_worker_reregisters_everything_after_a_restart(gearmand, run_worker):
    run_worker([gearmand], {"one": reverse, "two": reverse}, client_id="worker-8")
    wait_registered(gearmand, "two")
    gearmand.restart()
    wait_registered(gearmand, "one")
    wait_registered(gearmand, "two")
    with AdminClient(gearmand.address) as admin:
        assert [sorted(w.functions) for w in admin.workers() if w.client_id == "worker-8"] == [["one", "two"]]


def test_backoff_grows_to_its_cap_while_a_server_is_down(client, gearmand, refused_address, run_worker):
    worker = run_worker([refused_address, gearmand], {"reverse": reverse}, min_backoff=0.01, max_backoff=0.08)
    dead = next(link for link in worker.worker._links if str(link.address) == refused_address)
    wait_for(lambda: dead.backoff == 0.08 and dead.failures >= 4, message="the backoff to reach its cap")
    # Meanwhile the live server is served as usual.
    assert client.submit_job("reverse", b"live", poll_timeout=10) == b"evil"


def test_a_server_sending_garbage_is_reconnected_and_the_others_are_served(client, gearmand, impostor, run_worker,
                                                                            caplog):
    garbage = impostor(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    worker = run_worker([garbage.address, gearmand], {"reverse": reverse}, min_backoff=0.01, max_backoff=0.05)
    wait_for(lambda: garbage.connections >= 3, message="the worker to try the impostor again")
    assert client.submit_job("reverse", b"live", poll_timeout=10) == b"evil"
    assert worker.is_alive() and worker.error is None
    lines = [record.getMessage() for record in caplog.records if garbage.address in record.getMessage()]
    print(f"connections to the impostor {garbage.connections}, log lines about it {len(lines)}")
    assert lines == [f"{garbage.address} does not speak Gearman (bad packet magic b'HTTP' (expected b'\\x00RES')); "
                     "reconnecting with backoff (up to 0.05 s)"]


def test_a_server_that_resets_every_connection_is_retried_with_growing_backoff(gearmand_factory, impostor, run_worker,
                                                                              client, caplog):
    """Connecting succeeds every time, so only a connection that answered may reset the backoff."""
    resetter = impostor()
    port = int(resetter.address.rpartition(":")[2])
    worker = run_worker([resetter.address], {"reverse": reverse}, min_backoff=0.01, max_backoff=0.32)
    window = 2.0
    time.sleep(window)  # a measuring window, not a synchronisation: count what happened in it
    attempts = resetter.connections
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    # Backoff 0.01 s doubling to 0.32 s: about 12 attempts in 2 s; reset to 0.01 s each time, ~200.
    print(f"connection attempts in {window} s: {attempts}, WARNING lines: {len(warnings)}")
    assert 3 <= attempts <= 15
    (warning,) = warnings  # reset while connecting or just after: either way, said once
    assert f"{resetter.address}: [Errno 104] Connection reset by peer; " in warning
    assert warning.endswith(" with backoff (up to 0.32 s)")

    resetter.close()
    server = gearmand_factory(port=port)  # a real gearmand where the resetter was
    wait_registered(server, "reverse")
    assert Client([server.address]).submit_job("reverse", b"back", poll_timeout=10) == b"kcab"
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings[1:] == [f"connected to gearmand at {resetter.address} again"]
    (link,) = worker.worker._links
    assert (link.failures, link.backoff) == (0, 0.01)


class OneJobThenNoJob(FakeServer):
    """After two GRABs: a job for the first, and NO_JOB for the second once `answer` is set."""

    def __init__(self):
        self.answer = threading.Event()
        super().__init__()

    def serve(self, connection: socket.socket) -> None:
        parser, grabs = Parser(REQ), 0
        while grabs < 2:
            data = self.receive(connection)
            if not data:
                return
            grabs += sum(kind == GRAB for kind, _ in parser.feed(data))
        connection.sendall(encode(PacketType.JOB_ASSIGN_UNIQ, b"H:fake:1", b"jobs", b"id-1", b"", magic=RES))
        self.answer.wait(10)
        connection.sendall(encode(NO_JOB, magic=RES))
        while self.receive(connection):
            pass


class ResetOnCue(FakeServer):
    """Resets its first connection once `reset` is set; later ones it only reads."""

    def __init__(self):
        self.reset = threading.Event()
        super().__init__()

    def serve(self, connection: socket.socket) -> None:
        if self.connections == 1:
            self.receive(connection)
            self.reset.wait(10)
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        while self.receive(connection):
            pass


def readable(connection) -> bool:
    return bool(select.select([connection.sock], [], [], 0)[0])


def test_a_server_lost_while_another_servers_packets_are_read_is_reconnected(run_worker):
    """Under max_jobs, one server's NO_JOB frees a GRAB for another. If that server's connection
    was reset, sending the GRAB loses it, after the selector reported it readable in the same round:
    its turn must find it gone, not a connection."""
    running, release = threading.Event(), threading.Event()

    def held_job(job):
        running.set()
        release.wait(10)
        return b"done"

    with OneJobThenNoJob() as first, ResetOnCue() as second:
        worker = run_worker([first.address, second.address], {"jobs": held_job}, prefetch=2, max_jobs=2,
                            min_backoff=0.01, grab_timeout=0.2)
        first_link, second_link = worker.worker._links
        wait_for(running.is_set, message="the first server's job to run")
        # While the job runs nothing is read: both events wait for the same round, the NO_JOB first.
        first.answer.set()
        wait_for(lambda: readable(first_link.connection), message="the NO_JOB to arrive")
        second.reset.set()
        wait_for(lambda: readable(second_link.connection), message="the reset to arrive")
        release.set()
        wait_for(lambda: second.connections == 2 or worker.error is not None, message="a reconnection")
        assert worker.error is None
        assert second_link.failures == 1
        worker.stop()
