"""Two-stage shutdown of real `manage.py gearman_worker` processes: no job is lost.

A job is held "running" with shop.worker.wait_for_file until the test
releases it, so every signal lands while the worker is mid-job.
"""

import signal

import pytest
from support.gearmand import wait_status
from support.waiting import wait_for
from support.workers import RESULT_TIMEOUT, release, submit

from django_gearman import GearmanJobFailed

HOLD = "shop.worker.wait_for_file"
WORKER = ("-a", "shop", "-n", "worker")


def hold_job(gearmand, in_background, hooks, path):
    """Submit a held job; returns its future and the pid of the worker that started it."""
    future = in_background(submit, gearmand, HOLD, str(path))
    [started] = hooks.wait_for("task_started")
    return future, started["pid"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_first_signal_finishes_the_job_in_hand_and_takes_no_more(signum, gearmand, start_worker, hooks, in_background,
                                                                  tmp_path):
    worker = start_worker(*WORKER, servers=[gearmand], env=hooks.env)
    flag = tmp_path / "flag"
    held, pid = hold_job(gearmand, in_background, hooks, flag)
    assert pid == worker.pid

    worker.signal(signum)
    wait_for(lambda: f"got {signum.name}" in worker.output, message=f"the worker to log {signum.name}")
    later = in_background(submit, gearmand, "shop.worker.add", 2, 3)
    wait_status(gearmand, "shop.worker.add", queued=1)
    release(flag)

    assert held.result(RESULT_TIMEOUT) == "done"
    assert worker.wait() == 0
    assert hooks.signals(worker.pid) == ["worker_started", "task_started", "task_finished", "worker_stopping"]
    assert not later.done()
    start_worker(*WORKER, servers=[gearmand])
    assert later.result(RESULT_TIMEOUT) == 5


def test_second_signal_exits_at_once_and_another_worker_runs_the_job(gearmand, start_worker, hooks, in_background,
                                                                    tmp_path):
    first = start_worker(*WORKER, servers=[gearmand], env=hooks.env)
    flag = tmp_path / "flag"
    held, _ = hold_job(gearmand, in_background, hooks, flag)
    second = start_worker(*WORKER, servers=[gearmand], env=hooks.env)

    first.signal(signal.SIGTERM)
    wait_for(lambda: "got SIGTERM" in first.output, message="the first SIGTERM to be handled")
    first.signal(signal.SIGTERM)
    assert first.wait() == 128 + signal.SIGTERM
    assert hooks.signals(first.pid) == ["worker_started", "task_started"]

    hooks.wait_for("task_started", pid=second.pid)
    release(flag)
    assert held.result(RESULT_TIMEOUT) == "done"
    [finished] = hooks.wait_for("task_finished")
    assert finished["pid"] == second.pid


def test_sigterm_runs_the_jobs_fetched_ahead_before_exiting(gearmand_factory, start_worker, hooks, in_background,
                                                           tmp_path):
    """Handed back by disconnecting, a fetched-ahead job counts as a failed attempt:
    under --job-retries=1 gearmand would delete it."""
    gearmand = gearmand_factory("--job-retries=1")
    flag = tmp_path / "flag"
    held = [in_background(submit, gearmand, HOLD, str(flag)) for _ in range(3)]
    wait_status(gearmand, HOLD, queued=3)
    first = start_worker(*WORKER, "--prefetch", "3", servers=[gearmand], env=hooks.env)
    hooks.wait_for("task_started", pid=first.pid)
    wait_status(gearmand, HOLD, queued=0, running=3)  # one running, two fetched ahead

    first.signal(signal.SIGTERM)
    wait_for(lambda: "got SIGTERM" in first.output, message="SIGTERM to be handled")
    release(flag)
    assert first.wait() == 0
    results = [outcome(future) for future in held]
    ran = hooks.signals(first.pid).count("task_finished")
    print(f"queued 3, --prefetch 3, SIGTERM with one in hand: the stopping worker ran {ran}, "
          f"lost {sum(isinstance(result, GearmanJobFailed) for result in results)}")
    assert results == ["done"] * 3
    assert hooks.signals(first.pid) == ["worker_started"] + ["task_started", "task_finished"] * 3 + ["worker_stopping"]


def outcome(future):
    """The job's result, or the GearmanJobFailed that gearmand's giving up on it raised."""
    try:
        return future.result(RESULT_TIMEOUT)
    except GearmanJobFailed as failure:
        return failure


def test_idle_worker_exits_cleanly_on_sigterm(gearmand, start_worker, hooks):
    worker = start_worker(*WORKER, servers=[gearmand], env=hooks.env)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert hooks.signals(worker.pid) == ["worker_started", "worker_stopping"]
