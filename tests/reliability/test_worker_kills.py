"""Workers that die: a job whose worker is SIGKILLed mid-job runs again on another worker
(at-least-once), `--job-retries` stops a job that kills every worker it reaches, and jobs
fetched ahead (`--prefetch`) are never lost when workers stop, even where gearmand deletes
a job handed back by a disconnect (`--job-retries=1`)."""

from __future__ import annotations

import time

import pytest
from ledger.models import Effect
from support.databases import POSTGRESQL
from support.gearmand import point_settings_at, total_jobs
from support.ledger import CRASH, RECORD_WHEN_RELEASED, runs
from support.reliability import Fleet, seeded_random, submit_records, wait_drained
from support.waiting import wait_for

from django_gearman import GearmanClient

pytestmark = pytest.mark.parametrize("db_backend", [POSTGRESQL], indirect=True)


def started_by(job_id: str) -> list[int]:
    """The pids of the workers that started the job, in order."""
    return list(Effect.objects.filter(job_id=job_id, kind="started").order_by("id").values_list("pid", flat=True))


def test_a_job_whose_worker_is_sigkilled_mid_job_runs_again_on_another(db_backend, gearmand, start_worker, settings,
                                                                      figures, tmp_path):
    point_settings_at(settings, gearmand)
    started = time.monotonic()
    fleet = Fleet(start_worker, [gearmand], db_backend, "--no-outbox")
    workers = {worker.pid: worker for worker in fleet.start(2)}
    release = tmp_path / "release"
    job_id = GearmanClient().submit_job(RECORD_WHEN_RELEASED, args=[str(release)], background=True).job_id

    first, = wait_for(lambda: started_by(job_id), message="the job to start")
    fleet.sigkill(workers.pop(first))
    _, second = wait_for(lambda: len(started_by(job_id)) == 2 and started_by(job_id),
                         message="the job to start again on the other worker")
    release.touch()
    still_held = wait_drained([gearmand], timeout=30)

    figures.count([job_id], still_held).seconds = time.monotonic() - started
    figures.details.update(started=len(started_by(job_id)))
    assert second in workers  # the survivor, not a restarted victim
    assert list(Effect.objects.filter(kind="done").values_list("pid", flat=True)) == [second]
    assert (figures.lost, still_held, figures.duplicated) == (0, 0, 0)


def test_job_retries_stop_a_job_that_kills_its_worker(db_backend, gearmand_factory, start_worker, settings, figures):
    """gearmand --job-retries=3: the poison job gets three workers killed, then it is dropped; the
    jobs queued behind it run once each on the workers that replaced the dead."""
    gearmand = gearmand_factory("--job-retries=3")
    point_settings_at(settings, gearmand)
    started = time.monotonic()
    client = GearmanClient()
    poison = client.submit_job(CRASH, background=True).job_id
    job_ids = submit_records(client, 50)
    fleet = Fleet(start_worker, [gearmand], db_backend, "--no-outbox")

    def poison_dropped():
        if not fleet.alive():
            fleet.start(wait=False)  # as a supervisor restarts a worker that died (it may die before registering)
        return total_jobs(gearmand, CRASH) == 0

    wait_for(poison_dropped, timeout=60, interval=0.1, message="gearmand to drop the poison job")
    if not fleet.alive():
        fleet.start(wait=False)
    still_held = wait_drained([gearmand], timeout=60)

    figures.count(job_ids, still_held).seconds = time.monotonic() - started
    figures.details.update(poison_attempts=len(started_by(poison)), workers_started=len(fleet.workers))
    assert len(started_by(poison)) == 3
    assert (figures.lost, still_held, figures.duplicated) == (0, 0, 0)


def test_jobs_fetched_ahead_are_never_lost_when_workers_stop(db_backend, gearmand_factory, start_worker, settings,
                                                           figures):
    """gearmand --job-retries=1 deletes a job its worker hands back by disconnecting: workers
    fetching 8 jobs ahead, stopped by --max-jobs, --max-memory and SIGTERM, lose none."""
    rng, figures.seed = seeded_random("prefetch stops")
    gearmand = gearmand_factory("--job-retries=1")
    point_settings_at(settings, gearmand)
    started = time.monotonic()
    job_ids = submit_records(GearmanClient(), 800, seconds=0.002)
    fleet = Fleet(start_worker, [gearmand], db_backend, "--no-outbox", "--prefetch", "8")
    # Workers can be done before the test sees them register: it waits for the jobs instead.
    fleet.start(1, "--max-memory", "1", wait=False)  # 1 MB: it stops after its first job, holding 7 more
    replacements = [("--max-jobs", "150"), ("--max-jobs", "97")]
    fleet.start(1, *replacements[0], wait=False)
    sigterm_at = [200, 400, 600]  # jobs run when a random worker gets SIGTERM

    def chaos() -> bool:
        done = len(runs())
        while sigterm_at and done >= sigterm_at[0] and fleet.alive():
            sigterm_at.pop(0)
            fleet.sigterm(rng.choice(fleet.alive()))
        for _ in range(2 - len(fleet.alive())):
            fleet.start(1, *rng.choice(replacements), wait=False)
        return True

    still_held = wait_drained([gearmand], timeout=150, also=chaos)

    figures.count(job_ids, still_held).seconds = time.monotonic() - started
    figures.details.update(workers_started=len(fleet.workers), sigterms=len(fleet.sigtermed))
    assert (figures.lost, still_held, figures.duplicated) == (0, 0, 0)
    assert len(fleet.sigtermed) == 3
