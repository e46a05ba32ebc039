"""The shop's general-purpose worker: `manage.py gearman_worker -a shop -n worker`."""

import os
import time
from pathlib import Path

from django.db import connection

from django_gearman import gearman_task


@gearman_task
def add(a, b):
    return a + b


@gearman_task()
def echo(*args, **kwargs):
    """Returns what it got, so callers can check that types survive the trip."""
    return {"args": args, "kwargs": kwargs}


@gearman_task
def fail(message):
    raise ValueError(message)


@gearman_task(raw=True)
def reverse(data):
    return data[::-1]


@gearman_task
def whoami():
    return os.getpid()


@gearman_task
def count_to(steps, *, job):
    """Reports progress while it works: poll it with client.get_job_status(handle)."""
    for step in range(1, steps + 1):
        time.sleep(0.2)
        job.send_status(step, steps)
    return steps


@gearman_task
def wait_for_file(path, timeout=30):
    """Blocks until `path` exists: lets tests hold a job 'running' without sleeping themselves."""
    deadline = time.monotonic() + timeout
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout} s")
        time.sleep(0.01)
    return Path(path).read_text()


@gearman_task
def report_and_wait(numerator, denominator, path, *, job):
    """Reports progress numerator/denominator, then waits like wait_for_file: tests read the status meanwhile."""
    job.send_status(numerator, denominator)
    return wait_for_file(path)


@gearman_task
def fail_the_first_time(path):
    """Appends an x to `path` on every run, and fails the first one: tests count retries with it."""
    with open(path, "a") as runs:
        runs.write("x")
    if Path(path).read_text() == "x":
        raise RuntimeError("the first run fails")
    return "second try"


@gearman_task
def found_database_connection():
    """Whether a database connection was already open when the job started; then uses one.

    The worker closes connections around each job, so with CONN_MAX_AGE = 0
    this is False every time."""
    was_open = connection.connection is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return was_open
