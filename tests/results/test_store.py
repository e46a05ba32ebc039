"""The result store with real gearmand, real workers and both databases: what a job leaves
in JobResult, reading it back, and a store outage in the middle of a job."""

from __future__ import annotations

import contextlib
import sqlite3

import psycopg
import pytest
from django.db import connections
from shop.gearman_workers.outcomes import double, refuse, total, unrecorded, wait_for_file
from support.waiting import wait_for
from support.workers import release

from django_gearman import GearmanClient, GearmanJobFailed, GearmanServerUnavailable, ResultNotFound, get_result
from django_gearman.models import JobResult

RESULT_TIMEOUT = 30


def test_a_stored_background_job_leaves_its_value_and_when_and_where_it_ran(db_backend, serve_outcomes, gearman):
    worker = serve_outcomes()
    handle = total.submit_background([1, 2.5])

    stored = gearman.get_result(handle, wait=True, timeout=RESULT_TIMEOUT)
    assert (stored.status, stored.value, stored.error, stored.attempts) == ("succeeded", 3.5, None, 1)
    assert (stored.job_id, stored.handle) == (handle.job_id, str(handle))
    assert (stored.task, stored.function) == ("shop.outcomes.total", "shop.outcomes.total")
    assert stored.arguments == {"args": [[1, 2.5]], "kwargs": {}}
    assert stored.worker_id.split(":")[1:] == [str(worker.pid), "shop.outcomes"]
    assert stored.enqueued_at <= stored.started_at <= stored.last_attempted_at <= stored.finished_at
    assert len(handle.job_id) == 32  # a fresh uuid4 hex: the caller gave none
    assert handle.result() == stored  # the handle reads the same row


def test_a_foreground_job_is_read_back_by_the_id_its_caller_chose(db_backend, serve_outcomes, gearman):
    serve_outcomes()
    assert gearman.submit_job(total, args=[[2, 3]], unique="order-42-total") == 5
    stored = get_result("order-42-total")
    assert (stored.status, stored.value) == ("succeeded", 5)
    # The same id used again once that job finished starts its record over.
    assert gearman.submit_job(total, args=[[4]], unique="order-42-total") == 4
    assert (get_result("order-42-total").value, get_result("order-42-total").attempts) == (4, 1)


def test_a_failed_job_keeps_its_error_and_arguments(db_backend, serve_outcomes, gearman):
    serve_outcomes()
    with pytest.raises(GearmanJobFailed, match="out of stock"):
        gearman.submit_job(refuse, args=["out of stock"], unique="refusal-1")

    stored = get_result("refusal-1")
    assert (stored.status, stored.value, stored.attempts, stored.finished) == ("failed", None, 1, True)
    assert (stored.error.type, stored.error.message) == ("ValueError", "out of stock")
    assert "raise ValueError(reason)" in stored.error.traceback
    assert stored.arguments == {"args": ["out of stock"], "kwargs": {}}


def test_gearman_store_results_decides_for_tasks_that_do_not_say(db_backend, serve_outcomes, gearman, settings):
    settings.GEARMAN_STORE_RESULTS = True
    serve_outcomes(env={"GEARMAN_STORE_RESULTS": "1"})
    assert gearman.submit_job(double, args=[21], unique="global-on") == 42
    assert gearman.submit_job(unrecorded, args=[1], unique="opted-out") == 1

    assert get_result("global-on").value == 42
    with pytest.raises(ResultNotFound, match="no stored result for job 'opted-out'"):
        get_result("opted-out")
    with pytest.raises(ResultNotFound):  # at once: waiting would not make a row appear
        get_result("opted-out", wait=True)


def test_with_the_store_off_a_job_writes_nothing(db_backend, serve_outcomes, gearman, django_assert_num_queries):
    serve_outcomes()
    with django_assert_num_queries(0, using=db_backend.alias):
        gearman.submit_job(double, args=[1], background=True)
        assert gearman.submit_job(double, args=[2], unique="not-stored") == 4
    assert gearman.submit_job("shop.outcomes.double", args=[3]) == 6  # by name, with no task to ask here
    assert not JobResult.objects.exists()


def test_a_stored_job_is_queued_then_running_and_wait_returns_when_it_finished(
        db_backend, serve_outcomes, gearman, tmp_path, settings):
    settings.GEARMAN_STORE_RESULTS = True
    gate = tmp_path / "gate"
    handle = wait_for_file.submit_background(str(gate))
    queued = gearman.get_result(handle)
    assert (queued.status, queued.attempts, queued.started_at, queued.handle) == ("queued", 0, None, "")

    serve_outcomes(env={"GEARMAN_STORE_RESULTS": "1"})
    running = wait_for(lambda: (found := get_result(handle)).status == "running" and found,
                       message="the job to be running")
    assert (running.attempts, running.finished_at, running.finished) == (1, None, False)
    release(gate, "opened")
    assert gearman.get_result(handle, wait=True, timeout=RESULT_TIMEOUT).value == "opened"


def test_a_batch_is_recorded_job_by_job(db_backend, serve_outcomes, gearman):
    serve_outcomes()
    handles = gearman.submit_multiple_jobs(total, [[[n, n]] for n in range(5)], background=True)
    values = [gearman.get_result(handle, wait=True, timeout=RESULT_TIMEOUT).value for handle in handles]
    assert values == [0, 2, 4, 6, 8]


def test_a_job_no_server_took_leaves_no_record(db_backend, settings, refused_address):
    settings.GEARMAN_SERVERS = [refused_address]
    with pytest.raises(GearmanServerUnavailable):
        total.submit_background([1])
    assert not JobResult.objects.exists()


@contextlib.contextmanager
def store_outage(db_backend):
    """The database of the result store stops answering the worker: SQLite stays locked by another
    connection; PostgreSQL refuses connections to it, and drops the worker's."""
    if db_backend.kind == "sqlite":
        locker = sqlite3.connect(connections[db_backend.alias].settings_dict["NAME"], isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    name = connections[db_backend.alias].settings_dict["NAME"]
    with connections[db_backend.alias].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [ours] = cursor.fetchone()  # the test keeps its own connection
    conninfo = db_backend.env["TESTPROJECT_POSTGRES"].replace(f"dbname={name}", "dbname=postgres")
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                      [name, ours])
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def test_a_store_outage_during_a_job_is_logged_and_the_result_still_reaches_the_client(
        db_backend, serve_outcomes, gearman, in_background, tmp_path, settings):
    settings.GEARMAN_STORE_RESULTS = True
    # On SQLite the worker's write waits 1 s for the lock (not the 20 s of testproject's settings), then fails.
    worker = serve_outcomes(env={"GEARMAN_STORE_RESULTS": "1", "TESTPROJECT_SQLITE_TIMEOUT": "1"})
    gate = tmp_path / "gate"
    call = in_background(gearman.submit_job, wait_for_file, args=[str(gate)], unique="outage-1",
                         poll_timeout=60)
    wait_for(lambda: JobResult.objects.filter(pk="outage-1", status="running").exists(),
             message="the job to be running")

    with store_outage(db_backend):
        release(gate, "delivered")
        assert call.result(60) == "delivered"
    assert "result store: could not record the result of job outage-1" in worker.output
    assert "the job goes on" in worker.output
    assert JobResult.objects.get(pk="outage-1").status == "running"  # what the worker could not write is lost

    # Once the database is back, the worker stores again.
    assert gearman.submit_job(total, args=[[1, 1]], unique="after-outage") == 2
    assert get_result("after-outage").status == "succeeded"
    assert worker.process.poll() is None


def test_eager_mode_stores_results_too(db_backend, settings):
    settings.GEARMAN_ALWAYS_EAGER = True
    assert GearmanClient().submit_job(total, args=[[1, 2]], unique="eager-1") == 3
    stored = get_result("eager-1")
    assert (stored.status, stored.value, stored.attempts) == ("succeeded", 3, 1)
    assert stored.worker_id.startswith("eager:")
