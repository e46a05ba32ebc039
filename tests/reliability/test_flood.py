"""A flood: 50,000 background jobs over two gearmands and three workers, while workers are
SIGTERMed, SIGKILLed and replaced at random and the gearmand with a persistent queue is
SIGKILLed and restarted. Nothing is lost; a job runs twice only where a run was cut off."""

from __future__ import annotations

import datetime
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from django.utils import timezone
from ledger.models import Effect
from support.databases import POSTGRESQL
from support.reliability import (
    Fleet,
    seeded_random,
    sqlite_queue_ids,
    start_again,
    submit_records,
    tmpfs_directory,
    wait_drained,
)

from django_gearman import GearmanClient

pytestmark = pytest.mark.parametrize("db_backend", [POSTGRESQL], indirect=True)

JOBS = 50_000
WORKERS = 3
#: Workers SIGTERMed or SIGKILLed (each then replaced) at random moments of the flood.
WORKER_KILLS = 8


def test_a_flood_through_worker_kills_and_a_gearmand_crash_loses_nothing(db_backend, gearmand_factory, start_worker,
                                                                        settings, in_background, figures):
    rng, figures.seed = seeded_random("flood")
    with tmpfs_directory() as directory:
        queue = directory / "gearmand.sqlite"
        persistent = gearmand_factory("-q", "libsqlite3", f"--libsqlite3-db={queue}")
        plain = gearmand_factory()
        settings.GEARMAN_SERVERS = [persistent.address, plain.address]
        started = time.monotonic()
        fleet = Fleet(start_worker, [persistent, plain], db_backend, "--no-outbox")
        fleet.start(WORKERS)
        submitting = in_background(submit_records, GearmanClient(), JOBS, seconds=0.0005)

        # What happens when: after that many jobs have run.
        chaos_at = sorted([(done, "kill") for done in rng.sample(range(1_000, JOBS - 2_000), WORKER_KILLS)]
                       + [(rng.randrange(5_000, JOBS - 5_000), "gearmand crash")])
        crash = Crash(persistent.address)

        def chaos() -> bool:
            done = Effect.objects.filter(kind="done").count()
            while chaos_at and done >= chaos_at[0][0]:
                _, event = chaos_at.pop(0)
                if event == "gearmand crash":
                    persistent.kill()
                    crash.replayed = sqlite_queue_ids(queue)
                    start_again(persistent)
                    crash.restarted_at = timezone.now()
                else:
                    victim = rng.choice(fleet.alive())
                    fleet.sigkill(victim) if rng.random() < 0.5 else fleet.sigterm(victim)
                    fleet.start()
            return submitting.done()

        still_held = wait_drained([persistent, plain], timeout=400, also=chaos)
        job_ids = submitting.result(timeout=1)

    figures.count(job_ids, still_held).seconds = time.monotonic() - started
    causes = duplicate_causes(fleet.sigkilled, crash)
    figures.details.update(sigkills=len(fleet.sigkilled), sigterms=len(fleet.sigtermed),
                           queued_at_gearmand_crash=len(crash.replayed), **causes)
    assert len(set(job_ids)) == JOBS
    assert (figures.lost, still_held) == (0, 0)
    assert not chaos_at  # every kill and the crash happened
    assert causes["unexplained_duplicates"] == 0, causes


@dataclass
class Crash:
    """The gearmand that was SIGKILLed and restarted on its queue."""

    server: str
    replayed: set[str] = field(default_factory=set)  # the job ids in its queue when it died
    restarted_at: datetime.datetime | None = None

    def cut_off(self, runs: list[Effect]) -> bool:
        """Whether the crash explains a second run: the job was in the queue gearmand replayed,
        and ran there before gearmand came back (its result went to the dead process), or ran
        on both servers (sent to the other when this one did not answer, yet already queued)."""
        if self.restarted_at is None or runs[0].job_id not in self.replayed:
            return False
        here = [run for run in runs if run.server == self.server]
        return any(run.created_at <= self.restarted_at for run in here) or len(here) < len(runs)


def duplicate_causes(sigkilled: set[int], crash: Crash) -> dict[str, int]:
    """Why jobs ran more than once: the gearmand crash (see Crash.cut_off), or a SIGKILLed
    worker, which cuts off at most the one job in its hands."""
    runs_by_job = defaultdict(list)
    for run in Effect.objects.filter(kind="done").order_by("id"):
        runs_by_job[run.job_id].append(run)
    unused_kills = set(sigkilled)
    causes = {"duplicates_by_gearmand_crash": 0, "duplicates_by_sigkill": 0, "unexplained_duplicates": 0}
    for runs in runs_by_job.values():
        extra = len(runs) - 1
        if extra and crash.cut_off(runs):
            causes["duplicates_by_gearmand_crash"] += 1
            extra -= 1
        for _ in range(extra):
            killed = unused_kills.intersection(run.pid for run in runs)
            if killed:
                unused_kills.discard(killed.pop())
                causes["duplicates_by_sigkill"] += 1
            else:
                causes["unexplained_duplicates"] += 1
    return causes
