"""submit_on_commit through the outbox: the job is stored in the caller's transaction,
sent after the commit, and kept when no server takes it, against a real gearmand."""

from __future__ import annotations

import logging
import re

import pytest
from django.db import transaction
from gearman_probe.gearman_workers.probe import append_job_id, record
from shop.gearman_workers.outcomes import total
from shop.gearman_workers.worker import add, echo, fail
from support.apps import PROBE_ENV
from support.gearmand import reserved_port, unique_ids
from support.waiting import wait_for

from django_gearman import GearmanClient, GearmanJobFailed, outbox
from django_gearman.models import JobResult, StoredJob
from django_gearman.testing import GearmandServer

#: Every test runs on SQLite and on PostgreSQL (the db_backend fixture).
pytestmark = pytest.mark.usefixtures("db_backend")


def test_the_job_is_stored_in_the_transaction_and_sent_after_the_commit(db_backend, gearman_settings):
    with transaction.atomic(using=db_backend.alias):
        job_id = add.submit_on_commit(2, 3)
        assert list(StoredJob.objects.values_list("job_id", "function")) == [(job_id, "shop.worker.add")]
        assert unique_ids(gearman_settings) == []  # not before the commit
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)  # a uuid4, gearmand's unique id
    assert unique_ids(gearman_settings) == [job_id]
    assert not StoredJob.objects.exists()  # gearmand has it: the row is gone


def test_a_rollback_stores_and_sends_nothing(db_backend, gearman_settings):
    with pytest.raises(RuntimeError):
        with transaction.atomic(using=db_backend.alias):
            add.submit_on_commit(2, 3)
            raise RuntimeError("rollback")
    assert unique_ids(gearman_settings) == []
    assert not StoredJob.objects.exists()


def test_a_savepoint_rolled_back_drops_only_its_own_jobs(db_backend, gearman_settings):
    with transaction.atomic(using=db_backend.alias):
        kept = add.submit_on_commit(1, 1)
        with pytest.raises(RuntimeError):
            with transaction.atomic(using=db_backend.alias):
                add.submit_on_commit(2, 2)
                raise RuntimeError("savepoint")
        also_kept = add.submit_on_commit(3, 3)
    assert sorted(unique_ids(gearman_settings)) == sorted([kept, also_kept])
    assert not StoredJob.objects.exists()


def test_every_job_of_a_transaction_is_sent_after_its_commit(db_backend, gearman_settings):
    with transaction.atomic(using=db_backend.alias):
        job_ids = [add.submit_on_commit(n, n) for n in range(1200)]  # more than one batch
    assert len(set(job_ids)) == 1200
    assert sorted(unique_ids(gearman_settings)) == sorted(job_ids)
    assert not StoredJob.objects.exists()


def test_the_callers_unique_id_is_the_job_id_and_coalesces_as_in_gearmand(db_backend, gearman_settings):
    with transaction.atomic(using=db_backend.alias):
        assert add.submit_on_commit(1, 2) != add.submit_on_commit(1, 2)  # no unique: two jobs
        assert GearmanClient().submit_on_commit(add, args=[5, 5], unique="order-7") == "order-7"
        assert GearmanClient().submit_on_commit(add, args=[6, 6], unique="order-7") == "order-7"  # in flight
        # unique=True: the id comes from the arguments, so equal arguments to two tasks are two jobs.
        same = GearmanClient().submit_on_commit(add, args=[1, 1], unique=True)
        assert GearmanClient().submit_on_commit(echo, args=[1, 1], unique=True) == same
        assert StoredJob.objects.count() == 5
    queued = unique_ids(gearman_settings)
    assert (len(queued), queued.count("order-7"), queued.count(same)) == (5, 1, 2)


def test_raw_tasks_and_priorities_are_stored_as_they_go_on_the_wire(db_backend, settings, refused_address):
    settings.GEARMAN_SERVERS = [refused_address]
    with transaction.atomic(using=db_backend.alias):
        job_id = GearmanClient().submit_on_commit("shop.worker.reverse", data=b"\x00raw", priority="high")
    stored = StoredJob.objects.get()
    assert (stored.job_id, stored.function, bytes(stored.payload), stored.priority) == (
        job_id, "shop.worker.reverse", b"\x00raw", "high")


def test_unreachable_at_commit_the_job_stays_stored_and_is_logged_once(db_backend, settings, caplog,
                                                                      gearmand_factory):
    with reserved_port() as port:  # refuses connections until gearmand starts on it below
        settings.GEARMAN_SERVERS = [f"127.0.0.1:{port}"]
        with caplog.at_level(logging.WARNING, logger="django_gearman"):
            with transaction.atomic(using=db_backend.alias):  # nothing raised out of it
                first, second = add.submit_on_commit(1, 1), add.submit_on_commit(2, 2)
    stored = {row.job_id: row for row in StoredJob.objects.all()}
    assert set(stored) == {first, second}
    assert all(row.attempts == 1 and f"cannot connect to gearmand at 127.0.0.1:{port}" in row.last_error
               for row in stored.values())
    warnings = [record.getMessage() for record in caplog.records if record.name == "django_gearman.outbox"]
    assert len(warnings) == 1, warnings
    assert "2 job(s) submitted on commit could not be sent now" in warnings[0]
    assert first in warnings[0] and second in warnings[0] and "gearman_outbox" in warnings[0]

    server = GearmandServer(port=port, log_dir=str(gearmand_factory.log_dir)).start()
    try:
        StoredJob.objects.update(claimed_until=None)  # rather than wait out RETRY_SECONDS
        report = outbox.relay_due(GearmanClient().transport)
        assert (report.sent, report.failed) == (2, 0)
        assert sorted(unique_ids(server)) == sorted([first, second])
        assert not StoredJob.objects.exists()
    finally:
        server.stop()


def test_a_stored_result_is_queued_in_the_same_transaction(db_backend, settings, refused_address):
    """A task that stores its result: its row commits, or rolls back, with the job; while the
    job waits in the outbox it is queued."""
    settings.GEARMAN_SERVERS = [refused_address]
    with pytest.raises(RuntimeError), transaction.atomic(using=db_backend.alias):
        total.submit_on_commit([1, 2])
        raise RuntimeError("rollback")
    assert not JobResult.objects.exists()
    with transaction.atomic(using=db_backend.alias):
        job_id = total.submit_on_commit([1, 2])
    assert StoredJob.objects.get().job_id == job_id
    assert list(JobResult.objects.values_list("job_id", "status")) == [(job_id, JobResult.Status.QUEUED)]


def test_eager_runs_the_job_at_the_commit_and_stores_nothing(db_backend, settings, refused_address, tmp_path):
    settings.GEARMAN_ALWAYS_EAGER = True
    settings.GEARMAN_SERVERS = [refused_address]
    path = tmp_path / "ran.json"
    with transaction.atomic(using=db_backend.alias):
        record.submit_on_commit(str(path), "eager")
        assert not path.exists() and not StoredJob.objects.exists()
    assert path.read_text() == '{"args": ["eager"], "kwargs": {}}'
    with pytest.raises(GearmanJobFailed, match="ValueError: at commit"):
        with transaction.atomic(using=db_backend.alias):
            fail.submit_on_commit("at commit")  # as submit_background: an eager failure raises


def test_the_worker_sees_and_logs_the_returned_job_id(db_backend, gearman_settings, start_worker, tmp_path):
    path = tmp_path / "job-ids"
    with transaction.atomic(using=db_backend.alias):
        job_id = append_job_id.submit_on_commit(str(path))
    worker = start_worker("-a", "gearman_probe", "-n", "probe", "-v", "2", servers=[gearman_settings], env=PROBE_ENV)
    wait_for(path.exists, message="the job to run")
    assert path.read_text() == job_id + "\n"
    wait_for(lambda: f", id {job_id}) done" in worker.output, message="the worker to log the job as done")
    assert re.search(rf"task gearman_probe\.probe\.append_job_id \(job H:\S+, id {job_id}\) started", worker.output)
