"""Claiming periodic runs in the database, on SQLite and PostgreSQL: each slot's run is stored
once, by one scheduler, in the transaction that moves the entry on. No gearmand: nothing is sent."""

import datetime
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from support.databases import SQLITE

from django_gearman import GearmanClient
from django_gearman.models import ScheduleState, StoredJob
from django_gearman.periodic import ScheduleEntry
from django_gearman.scheduler import Scheduler
from django_gearman.serializers import PayloadCodec

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=UTC)
EVERY_MINUTE = ScheduleEntry("minutely", "shop.worker.add", (1, 2), {"extra": True}, every=60, priority="high")


@pytest.fixture
def scheduler(db_backend):
    def make(*entries: ScheduleEntry) -> Scheduler:
        return Scheduler(GearmanClient(servers=["127.0.0.1:1"]), entries=entries or [EVERY_MINUTE])

    return make


def later(seconds: float) -> datetime.datetime:
    return START + datetime.timedelta(seconds=seconds)


def arguments(job: StoredJob) -> tuple[list, dict]:
    """What the stored job's task will get."""
    return PayloadCodec("json").decode_request(job.function, job.job_id, bytes(job.payload))


def stored_jobs(db_backend) -> list[StoredJob]:
    return list(StoredJob.objects.using(db_backend.alias).order_by("job_id"))


def state(db_backend, name: str = "minutely") -> ScheduleState:
    return ScheduleState.objects.using(db_backend.alias).get(name=name)


def test_a_new_entry_first_runs_at_its_first_slot(scheduler, db_backend):
    report = scheduler().run_pass(START)
    assert report.runs == [] and report.next_due == later(59.75)
    assert state(db_backend).next_run_at == later(59.75) and state(db_backend).last_job_id == ""
    assert scheduler().run_pass(later(59)).runs == []
    assert stored_jobs(db_backend) == []


def test_a_due_slot_is_stored_as_a_job_due_now_under_its_run_id(scheduler, db_backend, settings):
    settings.GEARMAN_TASK_PREFIX = "staging."
    scheduler().run_pass(START)
    (run,) = scheduler().run_pass(later(60.5)).runs
    assert (run.entry, run.slot, run.job_id) == ("minutely", later(59.75), "minutely@20261201T100100Z")
    (job,) = stored_jobs(db_backend)
    assert (job.job_id, job.function, job.priority, job.due_at) == (run.job_id, "staging.shop.worker.add", "high",
                                                                   later(60.5))
    assert arguments(job) == ([1, 2], {"extra": True})
    entry = state(db_backend)
    assert (entry.next_run_at, entry.last_slot, entry.last_run_at, entry.last_job_id) == (
        later(119.75), later(59.75), later(60.5), run.job_id)
    assert scheduler().run_pass(later(61)).runs == []  # claimed: the next pass finds the next slot


def test_missed_slots_are_run_once_then_the_next_slot_after_now(scheduler, db_backend):
    scheduler().run_pass(START)
    (run,) = scheduler().run_pass(later(3600)).runs  # an hour without a scheduler: 60 slots
    assert run.slot == later(59.75)
    assert state(db_backend).next_run_at == later(3659.75)
    assert len(stored_jobs(db_backend)) == 1


def test_a_changed_timing_is_rescheduled_without_a_run(scheduler, db_backend):
    scheduler().run_pass(START)
    hourly = ScheduleEntry("minutely", "shop.worker.add", every=3600)
    report = scheduler(hourly).run_pass(later(70))  # the old slot is due, but that entry changed
    assert report.runs == [] and report.next_due == later(3599.75)
    assert (state(db_backend).timing, state(db_backend).next_run_at) == ("every 3600 s", later(3599.75))
    assert stored_jobs(db_backend) == []


def test_schedulers_that_disagree_about_a_timing_warn_once_each(scheduler, db_backend, caplog, settings):
    settings.TIME_ZONE = "UTC"
    minutely, hourly = scheduler(), scheduler(ScheduleEntry("minutely", "shop.worker.add", every=3600))
    for second in range(0, 300, 30):  # a deploy half done: each reschedules what the other did
        minutely.run_pass(later(second))
        hourly.run_pass(later(second + 1))
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == ["schedule minutely: now every 3600 s (was every 60 s in the database); next run "
                        "2026-12-01 11:00:00 UTC",
                        "schedule minutely: now every 60 s (was every 3600 s in the database); next run "
                        "2026-12-01 10:01:00 UTC"]


def test_schedulers_racing_for_the_same_slots_claim_each_once(scheduler, db_backend):
    """Four schedulers, each in its own thread with its own connection, pass at the same
    moments: every slot is claimed by exactly one of them."""
    every_second = [ScheduleEntry(f"e{number}", "shop.worker.add", every=1) for number in range(3)]
    schedulers, rounds = 4, 30
    barrier = threading.Barrier(schedulers)
    claimed: list[list[str]] = [[] for _ in range(schedulers)]
    errors = []

    def run(index: int) -> None:
        try:
            mine = scheduler(*every_second)
            for number in range(rounds):
                barrier.wait(timeout=30)
                claimed[index] += [run.job_id for run in mine.run_pass(later(number)).runs]
        except Exception as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(schedulers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    every_claim = [job_id for claims in claimed for job_id in claims]
    print(f"{db_backend.kind}: {rounds} passes of {schedulers} schedulers: claims per scheduler "
          f"{[len(claims) for claims in claimed]}, {len(every_claim)} runs, {len(set(every_claim))} distinct")
    # The first pass makes the states; each of the others finds one slot of each entry due.
    assert sorted(every_claim) == sorted(f"e{n}@{later(s):%Y%m%dT%H%M%SZ}" for n in range(3) for s in range(1, rounds))
    assert sorted(job.job_id for job in stored_jobs(db_backend)) == sorted(every_claim)


def test_the_state_and_the_stored_jobs_must_share_a_database(db_backend, settings):
    settings.DATABASE_ROUTERS = ["tests.scheduler.test_claims.SplitRouter"]
    with pytest.raises(ImproperlyConfigured, match="sends ScheduleState to 'elsewhere' and StoredJob to"):
        Scheduler(GearmanClient(servers=["127.0.0.1:1"]), entries=[EVERY_MINUTE])


class SplitRouter:
    def db_for_write(self, model, **hints):
        return "elsewhere" if model is ScheduleState else None


def test_arguments_the_serializer_cannot_send_fail_at_start(db_backend):
    entry = ScheduleEntry("bad", "shop.worker.add", (object(),), every=60)
    with pytest.raises(ImproperlyConfigured, match=r"GEARMAN_SCHEDULE\['bad'\]: cannot submit it: cannot send a "
                                                   r"builtins.object as a task argument"):
        Scheduler(GearmanClient(servers=["127.0.0.1:1"]), entries=[entry])


@pytest.mark.parametrize("db_backend", [SQLITE], indirect=True)
def test_without_use_tz_times_are_stored_in_local_time(scheduler, db_backend, settings):
    settings.USE_TZ = False
    settings.TIME_ZONE = "Europe/Paris"
    scheduler().run_pass(START)
    assert state(db_backend).next_run_at == datetime.datetime(2026, 12, 1, 11, 1)  # naive, Paris time
    (run,) = scheduler().run_pass(later(61)).runs
    assert run.slot == later(59.75) and stored_jobs(db_backend)[0].due_at == datetime.datetime(2026, 12, 1, 11, 1, 1,
                                                                                               250000)
