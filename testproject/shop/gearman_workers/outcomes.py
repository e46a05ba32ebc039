"""Tasks whose outcomes outlive them: `manage.py gearman_worker -a shop -n outcomes`.

Results stored in the database, retries on the worker, and time limits.
"""

import socket
import time
from pathlib import Path

from django_gearman import gearman_task


@gearman_task(store_result=True)
def total(prices):
    """Its result is kept whatever GEARMAN_STORE_RESULTS says."""
    return sum(prices)


@gearman_task(store_result=True)
def refuse(reason):
    raise ValueError(reason)


@gearman_task
def wait_for_file(path):
    """Blocks until `path` exists, then returns its text: tests hold a job running with it."""
    while not Path(path).exists():
        time.sleep(0.01)
    return Path(path).read_text()


@gearman_task(store_result=True)
def needs_file(path):
    """Fails until `path` exists: a job to fail, fix and send again."""
    if not Path(path).exists():
        raise FileNotFoundError(f"{path} is missing")
    return Path(path).read_text()


@gearman_task
def double(value):
    """Stored when GEARMAN_STORE_RESULTS is on."""
    return value * 2


@gearman_task(store_result=False)
def unrecorded(value):
    """Never stored, even with GEARMAN_STORE_RESULTS on."""
    return value


@gearman_task(retries=3, retry_backoff=0.05)
def flaky(path, failures):
    """Fails its first `failures` runs (counted as lines in `path`), then returns how many runs it took."""
    with open(path, "a") as runs:
        runs.write("run\n")
    count = len(Path(path).read_text().splitlines())
    if count <= failures:
        raise ConnectionError(f"run {count} fails")
    return count


@gearman_task(retries=3, retry_backoff=0.05, retry_on=(ConnectionError,))
def picky(path, error):
    """Retried for ConnectionError only: raises `error` ("ConnectionError" or "ValueError") every run."""
    with open(path, "a") as runs:
        runs.write("run\n")
    raise {"ConnectionError": ConnectionError, "ValueError": ValueError}[error]("no luck")


@gearman_task(timeout=1)
def sleep(seconds):
    time.sleep(seconds)
    return seconds


@gearman_task(timeout=1)
def read_silent_socket():
    """Blocks in recv() on a socket nobody writes to: only the time limit ends it."""
    quiet, _other_end = socket.socketpair()
    return quiet.recv(1)


@gearman_task(timeout=1, retries=1, retry_backoff=0.05)
def slow_then_quick(path):
    """Its first run overruns the limit, the retry returns at once."""
    with open(path, "a") as runs:
        runs.write("run\n")
    if len(Path(path).read_text().splitlines()) == 1:
        time.sleep(30)
    return "in time"

