"""Worker.every: housekeeping the worker loop does between jobs, against real gearmand."""

from __future__ import annotations

import logging
import re
import time

import pytest
from support.waiting import wait_for

from django_gearman.protocol import JobRequest, Worker

CHORE_INTERVAL = 0.02


def test_a_chore_runs_while_idle_and_between_jobs_never_during_one(client, gearmand, run_worker):
    events: list[str] = []

    def long_job(job):
        events.append("(")
        time.sleep(5 * CHORE_INTERVAL)  # long enough for chores to fall due meanwhile
        events.append(")")
        return b"ok"

    worker = run_worker([gearmand], {"long": long_job})
    worker.worker.every(CHORE_INTERVAL, lambda: events.append("c"))
    wait_for(lambda: events.count("c") >= 3, message="chores of an idle worker")
    client.submit_multiple_jobs([JobRequest("long", b"%d" % n, background=True) for n in range(3)], poll_timeout=10)
    wait_for(lambda: events.count(")") == 3 and events[-1] == "c", message="the jobs, and a chore after them")

    runs = "".join(events)
    assert not re.search(r"\([^)]*c", runs), runs  # never while a job runs
    assert re.fullmatch(r"c+(\(\)c+){3}", runs), runs  # after each job, busy as the worker was


def test_a_chore_that_raises_is_logged_and_the_worker_goes_on(client, gearmand, run_worker, caplog):
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("chore failed")

    with caplog.at_level(logging.ERROR, logger="django_gearman.protocol.worker"):
        worker = run_worker([gearmand], {"echo": lambda job: job.data})
        worker.worker.every(CHORE_INTERVAL, broken)
        wait_for(lambda: len(calls) >= 2, message="the chore to run twice")
        assert client.submit_job("echo", b"still serving", poll_timeout=10) == b"still serving"
    assert "RuntimeError: chore failed" in caplog.text


def test_a_chore_needs_a_positive_interval(gearmand):
    worker = Worker([gearmand.address])
    with pytest.raises(ValueError, match="interval must be more than 0 seconds, got 0"):
        worker.every(0, lambda: None)
    worker.close()
