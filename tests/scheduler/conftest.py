"""Fixtures of the scheduler's tests: real `manage.py gearman_scheduler` and `gearman_worker`
processes on the test's gearmand and database, and the runs a probe task writes down."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.apps import PROBE_ENV
from support.processes import WorkerProcess, manage_py_env
from support.waiting import wait_for

#: The probe task that appends "JOB_ID START_TIME" to the file it is given, once per run.
NOTE_START = "gearman_probe.probe.note_start"


@dataclass(frozen=True)
class Started:
    job_id: str
    at: float  # time.time() when the task began


def runs(path: Path) -> list[Started]:
    """Every run `note_start` wrote down in `path`, in order."""
    if not path.exists():
        return []
    return [Started(job_id, float(at)) for job_id, at in (line.split() for line in path.read_text().splitlines())]


def run_counts(path: Path) -> Counter:
    return Counter(run.job_id for run in runs(path))


@pytest.fixture
def runs_file(tmp_path) -> Path:
    return tmp_path / "runs.txt"


@pytest.fixture
def start_scheduler(tmp_path):
    """`start_scheduler(*args, servers=[...], env={...}, schedule={...})` runs `manage.py gearman_scheduler
    ARGS` with GEARMAN_SCHEDULE = `schedule`; killed after the test if still running."""
    started: list[WorkerProcess] = []

    def start(*args, servers, env=None, schedule=None) -> WorkerProcess:
        environment = manage_py_env(servers, {**(env or {}), "GEARMAN_SCHEDULE": json.dumps(schedule or {})})
        log_path = tmp_path / f"scheduler-{len(started)}.log"
        scheduler = WorkerProcess(args, environment, servers, log_path, command="gearman_scheduler")
        started.append(scheduler)
        wait_for(lambda: "scheduling " in scheduler.output or scheduler.process.poll() is not None,
                 message=f"the scheduler to start\n{scheduler.output}")
        if scheduler.process.poll() is not None:
            pytest.fail(f"gearman_scheduler exited with {scheduler.process.returncode}:\n{scheduler.output}")
        return scheduler

    yield start
    for scheduler in started:
        scheduler.stop()


@pytest.fixture
def probe_worker(gearman_settings, start_worker, db_backend):
    """A `gearman_worker -a gearman_probe -n probe` on the test's gearmand and database."""
    return start_worker("-a", "gearman_probe", "-n", "probe", servers=[gearman_settings],
                        env={**PROBE_ENV, **db_backend.env})
