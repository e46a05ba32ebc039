"""gearmand's text admin protocol, parsed into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from support.gearmand import function_status, wait_status
from support.waiting import wait_for

from django_gearman.protocol import (
    AdminClient,
    FunctionStatus,
    GearmanError,
    GearmanServerUnavailable,
    GearmanTimeout,
    JobRequest,
    QueuedJob,
    WorkerInfo,
)


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
