"""README's Supervisord section for the scheduler, run under the real supervisord
(support/supervisord.py): it sends delayed jobs, and restart and stop are graceful."""

from __future__ import annotations

import os

import pytest
from gearman_probe.gearman_workers.probe import note_start
from support.databases import SQLITE
from support.supervisord import Supervisor
from support.waiting import wait_for

from .conftest import run_counts

PROGRAM = "shop-scheduler"


@pytest.mark.parametrize("db_backend", [SQLITE], indirect=True)
def test_the_readme_scheduler_program_sends_delayed_jobs_and_restarts_gracefully(
        tmp_path, gearman_settings, db_backend, probe_worker, runs_file):
    env = {**os.environ, "GEARMAN_SERVERS": gearman_settings.address, **db_backend.env}
    instance = Supervisor(tmp_path, env, heading="## Delayed and periodic jobs")
    try:
        first = instance.wait_states("RUNNING")[PROGRAM]
        before = note_start.submit_background(str(runs_file), countdown=0.5)
        wait_for(lambda: before.job_id in run_counts(runs_file), message="the delayed job to run")

        restart = instance.ctl("restart", PROGRAM)
        assert restart.returncode == 0, restart.stdout + restart.stderr
        assert f"stopped: {PROGRAM} (exit status 0)" in instance.output()  # SIGTERM: a graceful exit
        assert "scheduler stopped" in instance.process_log(PROGRAM)
        second = instance.wait_states("RUNNING")[PROGRAM]
        assert second != first
        after = note_start.submit_background(str(runs_file), countdown=0.5)
        wait_for(lambda: after.job_id in run_counts(runs_file), message="a delayed job after the restart")

        stop = instance.ctl("stop", PROGRAM)
        assert stop.returncode == 0 and instance.output().count(f"stopped: {PROGRAM} (exit status 0)") == 2
        assert run_counts(runs_file) == {before.job_id: 1, after.job_id: 1}
    finally:
        instance.shut_down()
