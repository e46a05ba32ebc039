"""Real `manage.py gearman_scheduler` processes with a real gearmand and worker, on SQLite and
PostgreSQL: delayed jobs, and Django tasks with run_after, run at their time and not before; two
schedulers submit each periodic run once while they are SIGKILLed and restarted; runs stored while
no server answered survive a SIGKILL; slots missed while no scheduler ran make one run; SIGTERM
stops a scheduler gracefully."""

from __future__ import annotations

import datetime
import itertools
import os
import random
import re
import signal
import statistics
import time

import pytest
from django.db import OperationalError, connections
from django.utils import timezone
from gearman_probe.gearman_workers.probe import note_start, raise_probe_error
from shop.tasks import note_time
from support.apps import PROBE_ENV
from support.tasks_backend import Notes
from support.waiting import wait_for

from django_gearman import get_result
from django_gearman.models import ScheduleState, StoredJob
from django_gearman.requeue import requeue

from .conftest import NOTE_START, run_counts, runs

pytestmark = pytest.mark.timeout(150)

#: The schedulers' --interval here: the longest a delayed job stored while one waits may be late.
INTERVAL = 0.5
#: What the tests allow on top of that on a busy machine, for gearmand to hand the job to the
#: idle worker and the worker to start it (it is milliseconds when the machine is idle).
SLACK = 2.0
CLAIM_LINE = re.compile(r"schedule (?P<entry>\S+): stored the run of .*? as job (?P<job_id>[^;\s]+)"
                        r"(?P<late> \(\d+ s late: one run for the slots missed\))?;")
EVERY_SECOND = 1


def every_second(runs_file) -> dict:
    """Two entries with a run each second: an `every` and a six-field `cron`."""
    return {"ticks": {"task": NOTE_START, "args": [str(runs_file)], "every": EVERY_SECOND},
            "crons": {"task": NOTE_START, "args": [str(runs_file)], "cron": "* * * * * *"}}


def claims(*schedulers) -> list[re.Match]:
    """Every run the schedulers logged having stored, in the order each logged them."""
    return [match for scheduler in schedulers for match in CLAIM_LINE.finditer(scheduler.output)]


def slot_of(job_id: str) -> datetime.datetime:
    return datetime.datetime.strptime(job_id.split("@")[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


def stored_jobs(db_backend):
    return StoredJob.objects.using(db_backend.alias)


def kill_outside_a_send(victim, others, db_backend) -> int:
    """SIGKILL `victim` at a moment when no relayer is sending: the documented window
    where a kill sends a job twice (gearmand has it, its row is not deleted yet) is
    between a relayer's claim on a row and that row's deletion. Returns the attempts."""
    frozen = [victim, *others]
    for attempt in range(1, 200):
        for process in frozen:
            os.kill(process.pid, signal.SIGSTOP)
        try:
            sending = _claimed_rows(db_backend)
        except OperationalError:  # SQLite: a frozen scheduler holds the lock mid-commit
            sending = True
        if not sending:
            victim.process.kill()
            victim.process.wait()
        for process in frozen:
            if process.process.poll() is None:
                os.kill(process.pid, signal.SIGCONT)
        if not sending:
            return attempt
        time.sleep(random.uniform(0.01, 0.1))  # not a wait for anything: another moment to try
    pytest.fail("a relayer was sending at every one of 200 tries")


def _claimed_rows(db_backend) -> bool:
    connection = connections[db_backend.alias]
    if connection.vendor == "sqlite":  # fail fast rather than wait for a lock a frozen process holds
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 200")
    try:
        return stored_jobs(db_backend).exclude(claimed_by="").filter(claimed_until__gt=timezone.now()).exists()
    finally:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA busy_timeout = {int(connection.settings_dict['OPTIONS']['timeout'] * 1000)}")


def stop_gracefully(*schedulers) -> None:
    for scheduler in schedulers:
        scheduler.signal(signal.SIGTERM)
    for scheduler in schedulers:
        assert scheduler.wait(30) == 0, scheduler.output
        assert "scheduler stopped" in scheduler.output


def test_delayed_jobs_run_at_their_time_and_not_before(db_backend, gearman_settings, probe_worker, start_scheduler,
                                                       runs_file):
    start_scheduler("--interval", str(INTERVAL), servers=[gearman_settings], env=db_backend.env)
    first = timezone.now() + datetime.timedelta(seconds=1)
    due = {}
    for number in range(12):
        run_at = first + datetime.timedelta(seconds=0.3 * number)
        due[note_start.submit_background(str(runs_file), run_at=run_at).job_id] = run_at
    wait_for(lambda: len(runs(runs_file)) >= len(due), timeout=30, message="every delayed job to run")

    lateness = [started.at - due[started.job_id].timestamp() for started in runs(runs_file)]
    print(f"{db_backend.kind}: {len(due)} delayed jobs over {0.3 * 11:.1f} s, ran {len(lateness)}; "
          f"seconds late: min {min(lateness):.3f}, median {statistics.median(lateness):.3f}, max {max(lateness):.3f}")
    assert run_counts(runs_file) == dict.fromkeys(due, 1)
    assert min(lateness) >= 0  # never before its time
    assert max(lateness) <= INTERVAL + SLACK
    wait_for(lambda: not stored_jobs(db_backend).exists(), message="the sent rows to be deleted")


def test_run_after_runs_a_django_task_at_its_time_and_not_before(db_backend, gearman_settings, start_worker,
                                                                start_scheduler, tmp_path):
    start_worker("--django-tasks", servers=[gearman_settings], env=db_backend.env)
    start_scheduler("--interval", str(INTERVAL), servers=[gearman_settings], env=db_backend.env)
    notes = Notes(tmp_path / "notes.jsonl")
    run_after = timezone.now() + datetime.timedelta(seconds=1.5)
    result = note_time.using(run_after=run_after).enqueue(str(notes), "later")
    assert stored_jobs(db_backend).get().job_id == result.id

    [entry] = notes.wait()
    late = entry["at"] - run_after.timestamp()
    print(f"{db_backend.kind}: a task with run_after ran {late:.3f} s after it")
    assert entry["args"] == ["later"]
    assert 0 <= late <= INTERVAL + SLACK


def test_delayed_jobs_and_schedule_runs_keep_their_ids_in_the_result_store_and_can_be_requeued(
        db_backend, gearman_settings, start_worker, start_scheduler, runs_file, settings):
    settings.GEARMAN_STORE_RESULTS = True
    env = {**PROBE_ENV, **db_backend.env, "GEARMAN_STORE_RESULTS": "1"}
    start_worker("-a", "gearman_probe", "-n", "probe", servers=[gearman_settings], env=env)
    scheduler = start_scheduler("--interval", str(INTERVAL), servers=[gearman_settings], env=env,
                                schedule={"ticks": every_second(runs_file)["ticks"]})
    delayed = raise_probe_error.submit_background("late boom", countdown=0.5)
    assert get_result(delayed.job_id).status == "queued"  # recorded with the stored job

    failed = get_result(delayed.job_id, wait=True, timeout=30)
    assert (failed.status, failed.error.message, failed.handle != "") == ("failed", "late boom", True)
    wait_for(lambda: claims(scheduler), message="a schedule run")
    run = get_result(claims(scheduler)[0]["job_id"], wait=True, timeout=30)
    assert (run.status, run.task, run.arguments) == ("succeeded", NOTE_START, {"args": [str(runs_file)], "kwargs": {}})

    (again,) = requeue([delayed.job_id])
    requeued = get_result(again.job_id, wait=True, timeout=30)
    assert (requeued.status, requeued.requeued_from, requeued.error.message) == ("failed", delayed.job_id, "late boom")


def test_two_schedulers_submit_each_run_once_while_they_are_killed_and_restarted(
        db_backend, gearman_settings, probe_worker, start_scheduler, runs_file):
    def start():
        return start_scheduler("--interval", str(INTERVAL), servers=[gearman_settings], env=db_backend.env,
                               schedule=every_second(runs_file))

    alive = [start(), start()]
    every_process = list(alive)
    kills, tries = 6, []
    for kill in range(kills):
        moment = time.time() + random.uniform(1.0, 2.5)
        wait_for(lambda moment=moment: time.time() >= moment, message="a moment to kill a scheduler")
        victim = alive.pop(kill % 2)
        tries.append(kill_outside_a_send(victim, alive, db_backend))
        alive.insert(kill % 2, start())
        every_process.append(alive[kill % 2])
    stop_gracefully(*alive)
    wait_for(lambda: not stored_jobs(db_backend).exists(), timeout=30, message="every stored run to be sent")

    claimed = [match["job_id"] for match in claims(*every_process)]
    counts = run_counts(runs_file)
    wait_for(lambda: set(run_counts(runs_file)) >= set(claimed), timeout=30, message="every claimed run to run")
    counts = run_counts(runs_file)
    unlogged = set(counts) - set(claimed)  # stored by a scheduler killed before it logged the run
    print(f"{db_backend.kind}: {len(every_process)} scheduler processes, {kills} SIGKILLs "
          f"(tries to find a moment outside a send: {tries}); runs logged {len(claimed)}, run {sum(counts.values())}, "
          f"distinct {len(counts)}, run twice {sum(count > 1 for count in counts.values())}, stored but not logged "
          f"{len(unlogged)}, by process {[len(claims(process)) for process in every_process]}")
    assert len(claimed) == len(set(claimed)), "two schedulers stored the same run"
    assert all(count == 1 for count in counts.values()), {job: count for job, count in counts.items() if count > 1}
    assert len(unlogged) <= kills
    assert len(claimed) >= 2 * 10  # both entries, each second, for the ten seconds or more the test takes
    for entry in ("ticks", "crons"):
        _assert_no_slot_lost(entry, [match for match in claims(*every_process) if match["entry"] == entry],
                             {job_id for job_id in unlogged if job_id.startswith(f"{entry}@")})
    states = {state.name: state for state in ScheduleState.objects.using(db_backend.alias)}
    assert max((job_id for job_id in counts if job_id.startswith("ticks@")), key=slot_of) == states["ticks"].last_job_id


def _assert_no_slot_lost(entry: str, logged: list[re.Match], unlogged: set[str]) -> None:
    """Between two consecutive runs of an entry every slot ran, unless the first was stored
    late (a scheduler that was itself late by a whole period runs once for what it missed)."""
    late = {match["job_id"] for match in logged if match["late"]}
    job_ids = sorted({match["job_id"] for match in logged} | unlogged, key=slot_of)
    for earlier, later in itertools.pairwise(job_ids):
        gap = (slot_of(later) - slot_of(earlier)).total_seconds()
        assert gap == EVERY_SECOND or earlier in late, f"{entry}: no run between {earlier} and {later}"


def test_runs_stored_while_no_server_answered_survive_a_kill_and_missed_slots_run_once(
        db_backend, gearman_settings, probe_worker, start_scheduler, runs_file, refused_address):
    schedule = {"ticks": every_second(runs_file)["ticks"]}
    unreachable = start_scheduler("--interval", str(INTERVAL), servers=[refused_address], env=db_backend.env,
                                  schedule=schedule)
    wait_for(lambda: stored_jobs(db_backend).filter(attempts__gte=1).count() >= 3, timeout=20,
             message="three runs stored and tried while no server answers")
    kill_outside_a_send(unreachable, [], db_backend)
    stranded = set(stored_jobs(db_backend).values_list("job_id", flat=True))
    killed_at = time.time()
    wait_for(lambda: time.time() >= killed_at + 3.5, message="three slots to pass without a scheduler")

    scheduler = start_scheduler("--interval", str(INTERVAL), servers=[gearman_settings], env=db_backend.env,
                                schedule=schedule)
    wait_for(lambda: stranded <= set(run_counts(runs_file)), timeout=30, message="the stranded runs to run")
    wait_for(lambda: len(claims(scheduler)) >= 3, message="the new scheduler's own runs")
    stop_gracefully(scheduler)
    wait_for(lambda: not stored_jobs(db_backend).exists(), timeout=30, message="every stored run to be sent")
    wait_for(lambda: set(run_counts(runs_file)) >= {match["job_id"] for match in claims(scheduler)},
             timeout=30, message="the new scheduler's runs to run")

    counts = run_counts(runs_file)
    first_after = claims(scheduler)[0]
    print(f"{db_backend.kind}: runs stored with no server {len(stranded)}, run {sum(counts[j] for j in stranded)}; "
          f"after the restart: first run {first_after['job_id']} ({'late' if first_after['late'] else 'on time'}), "
          f"runs {len(claims(scheduler))}; every job run once: {set(counts.values()) == {1}}")
    assert set(counts.values()) == {1}
    assert stranded <= set(counts)
    # The slots while no scheduler ran made one run, stored late; the runs after it are on time.
    assert first_after["late"] and slot_of(first_after["job_id"]) <= datetime.datetime.fromtimestamp(
        killed_at + 1, datetime.timezone.utc)
    on_time = [slot_of(match["job_id"]) for match in claims(scheduler)[1:]]
    assert all((later - earlier).total_seconds() == EVERY_SECOND for earlier, later in itertools.pairwise(on_time))
