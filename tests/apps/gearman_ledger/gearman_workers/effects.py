"""`manage.py gearman_worker -a gearman_ledger -n effects` (settings: probe_settings, GEARMAN_TEST_APPS=
gearman_ledger): tasks whose every run is an `Effect` row (testproject's ledger app)
keyed by the job id, so a test can tell which jobs ran, how often, and where."""

import os
import signal
import time
from pathlib import Path

from ledger.models import Effect

from django_gearman import gearman_task


def _note(job, kind: str) -> None:
    Effect.objects.create(job_id=job.unique.decode(), kind=kind, pid=os.getpid(), server=job.server)


@gearman_task
def record(number, seconds=0.0, *, job):
    """The job's one effect; `seconds` of work first (so that a kill can find it mid-job)."""
    if seconds:
        time.sleep(seconds)
    _note(job, "done")
    return number


@gearman_task
def record_when_released(path, *, job):
    """Notes that it started, waits until `path` exists (the test holds the job running
    meanwhile), then records its effect."""
    _note(job, "started")
    deadline = time.monotonic() + 60
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within 60 s")
        time.sleep(0.01)
    _note(job, "done")


@gearman_task
def crash(*, job):
    """A poison job: notes that it started, then kills the worker running it."""
    _note(job, "started")
    os.kill(os.getpid(), signal.SIGKILL)
