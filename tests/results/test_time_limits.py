"""Time limits (`@gearman_task(timeout=)`, GEARMAN_TASK_TIMEOUT) with real workers: a task stuck
in Python or in a blocking system call is interrupted, its job fails with GearmanTaskTimeout,
and the worker goes on; gearmand gets CAN_DO_TIMEOUT as a last resort."""

from __future__ import annotations

import pytest
from shop.gearman_workers.outcomes import read_silent_socket, sleep, slow_then_quick, wait_for_file
from support.protocol import PacketRecorder
from support.waiting import wait_for

from django_gearman import GearmanClient, GearmanJobFailed
from django_gearman.protocol import PacketType

TIMEOUT_TYPE = "django_gearman.exceptions.GearmanTaskTimeout"


@pytest.mark.parametrize(("task", "args"), [(sleep, [30]), (read_silent_socket, [])], ids=["sleep", "recv"])
def test_a_stuck_task_is_interrupted_and_the_worker_serves_the_next_job(serve_outcomes, gearman, task, args):
    worker = serve_outcomes()
    with pytest.raises(GearmanJobFailed) as failed:
        gearman.submit_job(task, args=args)
    assert failed.value.exception_type == TIMEOUT_TYPE
    assert failed.value.message == f"task {task.name} did not finish within its time limit of 1 s"
    assert "GearmanTaskTimeout" in worker.output
    assert gearman.submit_job(sleep, args=[0]) == 0
    assert worker.process.poll() is None


def test_a_run_that_timed_out_is_retried_like_any_failure(serve_outcomes, gearman, tmp_path):
    serve_outcomes()
    ledger = tmp_path / "runs"
    assert gearman.submit_job(slow_then_quick, args=[str(ledger)]) == "in time"
    assert len(ledger.read_text().splitlines()) == 2


def test_gearman_task_timeout_limits_tasks_without_their_own(serve_outcomes, gearman, tmp_path):
    serve_outcomes(env={"GEARMAN_TASK_TIMEOUT": "0.5"})
    with pytest.raises(GearmanJobFailed) as failed:
        gearman.submit_job(wait_for_file, args=[str(tmp_path / "never")])
    assert failed.value.message == "task shop.outcomes.wait_for_file did not finish within its time limit of 0.5 s"
    # A task's own timeout wins over the setting.
    assert gearman.submit_job(sleep, args=[0.75]) == 0.75


def test_timed_tasks_are_registered_with_can_do_timeout(gearman_settings, start_worker):
    recorder = PacketRecorder(gearman_settings)
    try:
        worker = start_worker("-a", "shop", "-n", "outcomes", servers=[recorder.address], wait=False)
        wait_for(lambda: worker.registered(gearman_settings), message="the worker to register")
        sent = recorder.packets(direction="out")
    finally:
        recorder.close()
    # sleep, read_silent_socket, slow_then_quick have a timeout; the other tasks register plainly.
    assert sent.count(PacketType.CAN_DO_TIMEOUT) == 3
    assert sent.count(PacketType.CAN_DO) >= 6


def test_eager_mode_has_no_time_limit(settings):
    settings.GEARMAN_ALWAYS_EAGER = True
    assert GearmanClient().submit_job(sleep, args=[1.2]) == 1.2  # over its 1 s limit, and not interrupted
