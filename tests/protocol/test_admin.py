"""gearmand's text admin protocol, parsed into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import itertools
import threading

import pytest
from support.fakes import FakeAdminServer
from support.gearmand import function_status, wait_status
from support.waiting import wait_for

from django_gearman.protocol import (
    AdminClient,
    FunctionStatus,
    GearmanError,
    GearmanServerUnavailable,
    GearmanTimeout,
    JobRequest,
    ProtocolError,
    QueuedJob,
    WorkerInfo,
)
from django_gearman.protocol.admin import MAX_LINE


@pytest.fixture
def admin(gearmand):
    with AdminClient(gearmand.address) as admin:
        yield admin


def test_status_total_counts_queued_plus_running(admin, client, gearmand, run_worker):
    release = threading.Event()

    def held(job):
        release.wait(10)

    client.submit_multiple_jobs([JobRequest("held", b"%d" % n, background=True) for n in range(3)], poll_timeout=10)
    run_worker([gearmand], {"held": held})
    try:
        status = wait_status(gearmand, "held", running=1)
        assert status == FunctionStatus("held", total=3, running=1, available_workers=1)
        assert status.queued == 2
        assert admin.status() == [status]
    finally:
        release.set()


def test_results_are_frozen(admin, client):
    client.submit_job("queued", b"", background=True, poll_timeout=10)
    rows = [admin.status()[0], admin.workers()[0], admin.show_jobs()[0]]
    assert [type(row) for row in rows] == [FunctionStatus, WorkerInfo, QueuedJob]
    for row in rows:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(row, dataclasses.fields(row)[0].name, "changed")


def test_workers_lists_connections_with_their_functions_and_ids(admin, gearmand, run_worker):
    run_worker([gearmand], {"alpha": lambda job: None, "beta": lambda job: None}, client_id="admin-test")
    wait_for(lambda: any(w.client_id == "admin-test" for w in admin.workers()), message="the worker")
    workers = admin.workers()
    (ours,) = [worker for worker in workers if worker.client_id == "admin-test"]
    assert sorted(ours.functions) == ["alpha", "beta"]
    assert ours.ip == "127.0.0.1"
    assert ours.fd > 0
    # The admin connection itself is listed too, with no id and no functions.
    assert any(worker.client_id == "-" and worker.functions == () for worker in workers)


def test_version_and_getpid(admin, gearmand):
    assert admin.version().startswith("1.1")
    assert admin.getpid() == gearmand.pid


def test_maxqueue_limits_a_functions_queue(admin, client):
    client.submit_job("limited", b"1", background=True, poll_timeout=10)
    admin.maxqueue("limited", 2)
    client.submit_job("limited", b"2", background=True, poll_timeout=10)
    with pytest.raises(GearmanError, match="QUEUE_ERROR"):
        client.submit_job("limited", b"3", background=True, poll_timeout=10)
    admin.maxqueue("limited")  # unlimited again
    client.submit_job("limited", b"3", background=True, poll_timeout=10)
    assert function_status(admin.address, "limited").total == 3


def test_maxqueue_is_ignored_for_a_function_gearmand_does_not_know_yet(admin, client):
    """A gearmand 1.1.20 fact callers must know: set maxqueue after the first job."""
    admin.maxqueue("unknown-yet", 1)
    client.submit_job("unknown-yet", b"1", background=True, poll_timeout=10)
    client.submit_job("unknown-yet", b"2", background=True, poll_timeout=10)
    assert function_status(admin.address, "unknown-yet").total == 2


def test_show_jobs_and_cancel_job(admin, client, gearmand, run_worker):
    handle = client.submit_job("cancel-me", b"never", background=True, poll_timeout=10)
    assert admin.show_jobs() == [QueuedJob(handle.handle, retries=0, ignore_job=False, job_queued=True)]
    admin.cancel_job(handle.handle)
    assert admin.show_jobs() == [QueuedJob(handle.handle, retries=0, ignore_job=True, job_queued=False)]
    ran = []
    run_worker([gearmand], {"cancel-me": lambda job: ran.append(job.data)})
    assert client.submit_job("cancel-me", b"later", poll_timeout=10) is not None
    assert ran == [b"later"]
    assert admin.show_jobs() == []


def test_cancel_of_an_unknown_job_is_refused(admin):
    with pytest.raises(GearmanError, match="UNKNOWN_JOB"):
        admin.cancel_job("H:nowhere:1")


def test_unknown_command_is_refused(admin):
    with pytest.raises(GearmanError, match="UNKNOWN_COMMAND"):
        admin._listing("no such command")
    assert admin.version()  # the connection is still usable


@pytest.mark.parametrize("name", ["", "two words", "tab\tname"])
def test_arguments_that_would_split_the_command_are_refused(admin, name):
    with pytest.raises(ValueError, match="cannot be sent in an admin command"):
        admin.maxqueue(name, 1)


def test_ping(admin):
    assert admin.ping() > 0
    assert admin.version()  # text commands still work after a binary ECHO


def test_admin_times_out_on_a_silent_server(silent_server):
    with AdminClient(silent_server, timeout=0.2) as admin, pytest.raises(GearmanTimeout, match="did not answer"):
        admin.status()


def test_admin_reports_an_unreachable_server(refused_address):
    with pytest.raises(GearmanServerUnavailable, match="cannot connect"):
        AdminClient(refused_address)


# -- replies that must not be believed -----------------------------------------------

FORGING_NAME = "a\t7\t7\t7\n.\n66 6.6.6.6 spoofed : shop.fake\n.\nzz"


def test_a_function_name_with_line_breaks_cannot_forge_rows(admin, client, gearmand, run_worker):
    # gearmand prints the name as it is: before, `status` showed a fake task "a" and the
    # next command, `workers`, read the rest as a worker at 6.6.6.6.
    run_worker([gearmand], {"real": lambda job: None}, client_id="real-worker")
    wait_status(gearmand, "real", available_workers=1)
    client.submit_job(FORGING_NAME, b"", background=True, poll_timeout=10)

    with pytest.raises(ProtocolError, match=r"'status' listing from .* goes on after its end \('\.'\): a name"):
        admin.status()
    workers = admin.workers()  # the connection is still in step
    assert [worker.client_id for worker in workers if worker.functions] == ["real-worker"]
    assert not any(worker.ip == "6.6.6.6" for worker in workers)


def listing(*lines: str):
    """A FakeAdminServer reply: these lines, the end marker, and the echo."""
    return lambda command, echo: [b"".join(line.encode() + b"\n" for line in (*lines, ".")) + echo]


@pytest.mark.parametrize(
    ("lines", "fault"),
    [
        (["f\t1\t0"], r"unexpected 'status' line from .*: 'f\\t1\\t0'"),
        (["f\t1\tx\t0"], r"expected a number, got 'x' in 'status' line 'f\\t1\\tx\\t0'"),
        (["f\t-1\t0\t0"], "expected a number, got '-1'"),
        (["f\t\u0661\t0\t0"], "expected a number"),  # an Arabic-Indic one, which int() would take
    ],
    ids=["three-columns", "not-a-number", "negative", "non-ascii-digit"],
)
def test_malformed_status_rows_raise_naming_the_row(lines, fault):
    with FakeAdminServer(listing(*lines)) as server, AdminClient(server.address) as admin:
        with pytest.raises(ProtocolError, match=fault):
            admin.status()


def test_malformed_workers_rows_raise_naming_the_row():
    with FakeAdminServer(listing("12 127.0.0.1 : f")) as server, AdminClient(server.address) as admin:
        with pytest.raises(ProtocolError, match=r"unexpected 'workers' line from .*: '12 127.0.0.1 : f'"):
            admin.workers()


def test_a_connection_gearmand_is_closing_is_listed_with_fd_minus_one():
    # What gearmand 1.1.20 sent for a worker that was disconnecting while `workers` was read.
    with FakeAdminServer(listing("-1 127.0.0.1 - :", "7 127.0.0.1 w1 : f")) as server, \
            AdminClient(server.address) as admin:
        assert [(worker.fd, worker.client_id, worker.functions) for worker in admin.workers()] == [
            (-1, "-", ()), (7, "w1", ("f",))]


def test_bytes_after_the_reply_are_refused():
    def reply(command, echo):
        return [b"OK 1.1.20\n" + echo + b"\n66 6.6.6.6 spoofed : shop.fake\n.\n"]

    with FakeAdminServer(reply) as server, AdminClient(server.address) as admin:
        with pytest.raises(ProtocolError, match="sent 34 bytes after its reply to 'version'"):
            admin.version()


def test_a_reply_without_our_echo_is_refused():
    def reply(command, echo):
        return [b".\n" + echo[:-1] + b"X"]

    with FakeAdminServer(reply) as server, AdminClient(server.address) as admin:
        with pytest.raises(ProtocolError, match="sent binary data in its reply to 'status'"):
            admin.status()


def test_an_over_long_line_is_refused_without_reading_it_all():
    # 32 MiB without a line break: before, buffered (quadratically) to the end.
    sent = []

    def reply(command, echo):
        for _ in range(512):
            sent.append(65536)
            yield b"x" * 65536

    with FakeAdminServer(reply) as server, AdminClient(server.address, timeout=30) as admin:
        with pytest.raises(ProtocolError, match=f"sent a line longer than {MAX_LINE} bytes for 'status'"):
            admin.status()
    assert sum(sent) < 32 * 2**20


def test_the_timeout_bounds_the_whole_call_not_each_read():
    # One byte every 20 ms, without end: a per-read timeout of 0.5 s would never fire.
    def reply(command, echo):
        for byte in itertools.cycle(b"f\t1\t0\t0\n"):
            yield bytes([byte])
            if server.stopped.wait(0.02):
                return

    with FakeAdminServer(reply) as server, AdminClient(server.address, timeout=0.5) as admin:
        with pytest.raises(GearmanTimeout, match=r"did not answer within 0.5 s \('status'\)"):
            admin.status()


def test_a_server_that_hangs_up_mid_reply_is_unavailable():
    with FakeAdminServer(lambda command, echo: None) as server, AdminClient(server.address) as admin:
        with pytest.raises(GearmanServerUnavailable, match="closed the connection"):
            admin.version()


def test_a_large_listing_is_read_in_one_pass():
    rows = [f"function.{n:06d}\t{n}\t0\t1" for n in range(100_000)]
    with FakeAdminServer(listing(*rows)) as server, AdminClient(server.address) as admin:
        status = admin.status()
    assert len(status) == 100_000
    assert status[-1] == FunctionStatus("function.099999", 99999, 0, 1)
