"""The README's Supervisord section for workers, run under the real supervisord
(support/supervisord.py): only what ties it to a production machine is replaced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.supervisord import Supervisor
from support.waiting import wait_for
from support.workers import RESULT_TIMEOUT, release, submit


@pytest.fixture
def supervisor(tmp_path, gearmand, hooks):
    """`supervisor(*extra_worker_args)` starts supervisord with the README's programs
    pointed at the `gearmand` fixture; it is shut down after the test."""
    started: list[Supervisor] = []
    env = {**os.environ, "GEARMAN_SERVERS": gearmand.address, **hooks.env}

    def start(*extra_worker_args: str) -> Supervisor:
        instance = Supervisor(tmp_path, env, extra_worker_args)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.shut_down()


def held_job_survives(command: str, instance: Supervisor, gearmand, hooks, in_background, flag: Path) -> None:
    """`supervisorctl COMMAND group:*` while a job runs: its result still arrives
    and the worker that ran it says worker_stopping and exits 0."""
    earlier = [entry["signal"] for entry in hooks.entries()].count("task_started")
    held = in_background(submit, gearmand, "shop.worker.wait_for_file", str(flag))
    busy = hooks.wait_for("task_started", count=earlier + 1)[-1]["pid"]
    name = next(name for name, pid in instance.wait_states("RUNNING").items() if pid == busy)

    log_start, supervisord_log_start = len(instance.process_log(name)), len(instance.output())  # logs outlive restarts
    control = in_background(instance.ctl, command, f"{instance.group}:*")
    wait_for(lambda: "got SIGTERM" in instance.process_log(name)[log_start:], message=f"{name} to get SIGTERM")
    assert instance.status()[name][0] == "STOPPING"  # still finishing its job
    release(flag)

    assert held.result(RESULT_TIMEOUT) == "done"
    result = control.result(RESULT_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert hooks.signals(busy)[-3:] == ["task_started", "task_finished", "worker_stopping"]
    assert f"stopped: {name.split(':')[-1]} (exit status 0)" in instance.output()[supervisord_log_start:]


def test_stop_and_restart_during_a_long_job_deliver_it(supervisor, gearmand, hooks, in_background, tmp_path):
    instance = supervisor()
    before = instance.wait_serving(gearmand)
    assert sorted(instance.started_processes()) == sorted(before.values())  # what shut_down relies on

    held_job_survives("restart", instance, gearmand, hooks, in_background, tmp_path / "first")
    after = instance.wait_serving(gearmand)
    assert not set(after.values()) & set(before.values())
    assert submit(gearmand, "shop.worker.whoami") in after.values()

    held_job_survives("stop", instance, gearmand, hooks, in_background, tmp_path / "second")
    instance.wait_states("STOPPED")


def test_workers_that_reach_max_jobs_are_restarted(supervisor, gearmand):
    instance = supervisor("--max-jobs", "1")
    instance.wait_serving(gearmand)
    served = []
    for _ in range(3):
        pid = submit(gearmand, "shop.worker.whoami")
        served.append(pid)
        wait_for(lambda pid=pid: pid not in instance.wait_serving(gearmand).values(), timeout=30,
                 message=f"worker {pid} to be replaced\n{instance.output()}")
    assert len(set(served)) == 3
    assert instance.output().count("(exit status 0; expected)") == 3
