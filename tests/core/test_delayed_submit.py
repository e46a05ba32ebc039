"""Submitting delayed jobs: run_at= and countdown= store the job in the database until its time,
in the caller's transaction, with its job id. Sending them when due is the relayers' (test_processes)."""

import datetime
import json

import pytest
from django.db import transaction
from django.utils import timezone
from gearman_probe.gearman_workers.probe import record
from shop.gearman_workers.worker import add, reverse

from django_gearman import GearmanClient, gearman_task, get_result
from django_gearman.delayed import DelayedJob
from django_gearman.models import StoredJob
from django_gearman.serializers import PayloadCodec

UTC = datetime.timezone.utc


def arguments(job: StoredJob) -> tuple[list, dict]:
    """What the stored job's task will get."""
    return PayloadCodec("json").decode_request(job.function, job.job_id, bytes(job.payload))


def stored(db_backend) -> list[StoredJob]:
    return list(StoredJob.objects.using(db_backend.alias).order_by("due_at"))


def test_countdown_stores_the_job_due_that_many_seconds_from_now(db_backend, refused_address, settings):
    settings.GEARMAN_SERVERS = [refused_address]  # nothing is sent now: no server is needed
    before = timezone.now()
    delayed = add.submit_background(2, 3, countdown=90)
    after = timezone.now()
    assert isinstance(delayed, DelayedJob) and len(delayed.job_id) == 32
    (job,) = stored(db_backend)
    assert (job.job_id, job.function, job.priority, job.attempts) == (delayed.job_id, "shop.worker.add", "normal", 0)
    assert before + datetime.timedelta(seconds=90) <= job.due_at == delayed.run_at <= after + datetime.timedelta(
        seconds=90)
    assert arguments(job) == ([2, 3], {})


def test_run_at_and_the_client_keep_the_callers_id_priority_and_raw_data(db_backend, settings):
    settings.GEARMAN_TASK_PREFIX = "staging."
    at = datetime.datetime(2030, 1, 1, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    by_name = GearmanClient().submit_job("shop.worker.add", args=[1, 2], unique="invoice-42", priority="high",
                                         background=True, run_at=at)
    raw = reverse.submit_background(b"abc", run_at=at + datetime.timedelta(hours=1))
    first, second = stored(db_backend)
    assert (by_name.job_id, first.job_id, first.function, first.priority, first.due_at) == (
        "invoice-42", "invoice-42", "staging.shop.worker.add", "high", at)
    assert (second.function, bytes(second.payload), raw.run_at) == ("staging.shop.worker.reverse", b"abc",
                                                                     at + datetime.timedelta(hours=1))


def test_the_same_id_twice_is_one_stored_job_keeping_its_time(db_backend):
    first = add.submit_background(1, 1, countdown=60)
    GearmanClient().submit_job(add, args=[9, 9], unique=first.job_id, background=True, countdown=600)
    (job,) = stored(db_backend)
    assert job.due_at == first.run_at
    assert arguments(job) == ([1, 1], {})


def test_a_delayed_job_of_a_task_that_stores_results_is_queued_in_the_store(db_backend, settings):
    settings.GEARMAN_STORE_RESULTS = True
    delayed = add.submit_background(2, 3, countdown=60)
    stored = get_result(delayed.job_id)
    assert (stored.status, stored.arguments, stored.handle) == ("queued", {"args": [2, 3], "kwargs": {}}, "")


def test_a_delayed_job_exists_exactly_if_its_transaction_commits(db_backend):
    with transaction.atomic(using=db_backend.alias):
        kept = add.submit_background(1, 2, countdown=60)
        try:
            with transaction.atomic(using=db_backend.alias):
                add.submit_background(3, 4, countdown=60)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert [job.job_id for job in stored(db_backend)] == [kept.job_id]


BAD_DELAYS = [
    ({"run_at": datetime.datetime(2030, 1, 1)}, ValueError, "run_at= must be an aware datetime .* not the naive"),
    ({"run_at": datetime.date(2030, 1, 1)}, TypeError, "run_at= must be a datetime, not date"),
    ({"run_at": "2030-01-01T00:00Z"}, TypeError, "run_at= must be a datetime, not str"),
    ({"countdown": -1}, ValueError, r"countdown= must be a number of seconds >= 0 or a timedelta, not -1"),
    ({"countdown": float("nan")}, ValueError, "countdown= must be a number of seconds"),
    ({"countdown": True}, ValueError, "countdown= must be a number of seconds"),
    ({"countdown": "60"}, ValueError, "countdown= must be a number of seconds"),
    ({"countdown": 1, "run_at": datetime.datetime(2030, 1, 1, tzinfo=UTC)}, TypeError, "give run_at= or countdown="),
]


@pytest.mark.parametrize(("delay", "error", "text"), BAD_DELAYS, ids=[text for _, _, text in BAD_DELAYS])
def test_a_bad_delay_is_refused_before_anything_is_stored(db_backend, delay, error, text):
    with pytest.raises(error, match=text):
        add.submit_background(1, 2, **delay)
    assert stored(db_backend) == []


def test_only_background_jobs_can_wait(db_backend):
    with pytest.raises(TypeError, match="run_at= and countdown= delay a background job: add background=True"):
        GearmanClient().submit_job(add, args=[1, 2], countdown=5)


def test_a_task_with_a_parameter_named_like_a_delay_says_how_to_pass_it(db_backend, isolated_tasks):
    @gearman_task(name="tests.remind")
    def remind(who, countdown):
        return who, countdown

    with pytest.raises(TypeError, match=r"task tests.remind has a parameter named countdown, which submit_background"
                                        r"\(\) takes as the job's delay; .*submit_job\('tests.remind', kwargs="):
        remind.submit_background("me", countdown=3)
    assert stored(db_backend) == []


def test_eager_mode_runs_a_delayed_job_at_once(settings, refused_address, tmp_path, db_backend):
    settings.GEARMAN_ALWAYS_EAGER = True
    settings.GEARMAN_SERVERS = [refused_address]
    path = tmp_path / "now.json"
    record.submit_background(str(path), 1, countdown=3600)
    assert json.loads(path.read_text()) == {"args": [1], "kwargs": {}}
    assert stored(db_backend) == []
