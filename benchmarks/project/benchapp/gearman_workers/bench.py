"""The benchmark's tasks: each returns its argument, and notes when the first and the latest job ran."""

import json
import os
import time

from django_gearman import gearman_task

#: perf_counter() and process_time() at the first job, perf_counter() after the latest, and the count.
_marks = {"jobs": 0}


def _seen():
    now = time.perf_counter()
    if not _marks["jobs"]:
        _marks.update(first=now, cpu=time.process_time())
    _marks["jobs"] += 1
    _marks["last"] = now


@gearman_task
def echo(value):
    _seen()
    return value


@gearman_task(store_result=True)
def echo_stored(value):
    _seen()
    return value


def write_report(sender, **kwargs):
    """worker_stopping: jobs run, seconds from the first job's start to the latest's, CPU seconds meanwhile."""
    report = {"jobs": _marks["jobs"], "seconds": _marks.get("last", 0) - _marks.get("first", 0),
              "cpu": time.process_time() - _marks.get("cpu", 0)}
    with open(os.environ["BENCH_REPORT"], "w") as stream:
        json.dump(report, stream)
