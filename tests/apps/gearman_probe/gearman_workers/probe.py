"""`manage.py gearman_worker -a gearman_probe -n probe` (settings: probe_settings)."""

import json
import logging
import os
import time
from pathlib import Path

from shop.gearman_workers.worker import add  # noqa: F401  (imported, so not served by this worker)

from django_gearman import gearman_task


class ProbeError(Exception):
    """An exception class of the project's own: clients see its full dotted name."""


@gearman_task
def record(path, *args, **kwargs):
    """Writes the arguments it got to `path` as JSON: what a background job received, for the test to read.
    Written aside and renamed, so a test that sees the file never reads it half-written."""
    partial = Path(f"{path}.partial")
    partial.write_text(json.dumps({"args": args, "kwargs": kwargs}))
    os.replace(partial, path)
    return path


@gearman_task
def append_job_id(path, *, job):
    """Appends the id of the job to `path`, a line per run: which jobs ran, and how often."""
    with open(path, "a") as runs:
        runs.write(job.unique.decode() + "\n")


@gearman_task
def raise_probe_error(message):
    raise ProbeError(message)


@gearman_task
def nothing():
    return None


@gearman_task
def log_level():
    """The level `gearman_worker -v N` gave the django_gearman logger."""
    return logging.getLevelName(logging.getLogger("django_gearman").getEffectiveLevel())


@gearman_task
def send_data(value, *, job):
    """Sends `value` as WORK_DATA: eager and real jobs must accept and refuse the same values."""
    job.send_data(value)


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("__str__ itself fails")


@gearman_task
def raise_unprintable():
    """An exception that cannot be turned into text: reporting it must not kill the worker."""
    raise Unprintable()


@gearman_task
def note_start(path, *, job):
    """Appends the job's id and when it started (time.time()) to `path`, a line per run: which jobs ran, how
    often, and when, for the scheduler's tests."""
    with open(path, "a") as runs:
        runs.write(f"{job.unique.decode()} {time.time()!r}\n")
