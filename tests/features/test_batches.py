"""submit_multiple_jobs: many jobs at once, outcomes in order, one failure loses nothing."""

from __future__ import annotations

import pytest
from shop.gearman_workers.worker import add, reverse
from support.gearmand import wait_status
from support.workers import release

from django_gearman import GearmanClient, GearmanJobFailed, GearmanServerUnavailable, JobHandle

HOLD = "shop.worker.wait_for_file"


def test_jobs_of_a_batch_run_at_the_same_time(serve, gearman, gearman_settings, in_background, tmp_path):
    workers = [serve("worker", wait=False) for _ in range(3)]
    for worker in workers:
        worker.wait_registered()
    flag = tmp_path / "flag"

    batch = in_background(gearman.submit_multiple_jobs, HOLD, [[str(flag)]] * 3)
    # Each job waits for the flag, so all three running at once proves the batch
    # takes as long as its longest job, not the sum.
    wait_status(gearman_settings, HOLD, running=3, queued=0)
    release(flag, "released")

    assert batch.result(timeout=30) == ["released"] * 3


def test_outcomes_come_in_order_and_a_failure_loses_no_other_result(serve, gearman):
    serve("worker")
    jobs = [
        {"task": "shop.worker.add", "args": [1, 2]},
        {"task": "shop.worker.fail", "args": ["out of stock"]},
        {"task": add, "kwargs": {"a": 3, "b": 4}, "priority": "high"},
        {"task": "shop.worker.reverse", "data": b"raw"},
    ]

    three, failure, seven, raw = gearman.submit_multiple_jobs(jobs, return_exceptions=True)
    assert (three, seven, raw) == (3, 7, b"war")
    assert isinstance(failure, GearmanJobFailed)
    assert (failure.exception_type, failure.message) == ("ValueError", "out of stock")

    with pytest.raises(GearmanJobFailed, match="out of stock") as raised:
        gearman.submit_multiple_jobs(jobs)
    assert raised.value.results[0::2] == [3, 7]
    assert raised.value.results[1] is raised.value


def test_one_task_with_many_argument_lists(serve, gearman):
    serve("worker")

    assert gearman.submit_multiple_jobs("shop.worker.add", [[1, 2], (3, 4), [5, 6]]) == [3, 7, 11]
    assert gearman.submit_multiple_jobs(add, ([n, n] for n in range(3))) == [0, 2, 4]
    # A raw task takes its one bytes argument verbatim, as reverse.submit(b"abc") would.
    assert gearman.submit_multiple_jobs(reverse, [[b"abc"], [b"xy"]]) == [b"cba", b"yx"]
    assert gearman.submit_multiple_jobs(add, []) == []


def test_batches_go_to_the_background_and_come_back_as_handles(gearman):
    handles = gearman.submit_multiple_jobs(add, [[1, 2], [3, 4]], background=True, priority="low")
    not_awaited = gearman.submit_multiple_jobs([{"task": add, "args": [5, 6]}], wait_until_complete=False)

    assert all(isinstance(handle, JobHandle) for handle in handles + not_awaited)
    assert len({handle.handle for handle in handles + not_awaited}) == 3
    assert all(gearman.get_job_status(handle).known for handle in handles)  # queued: no worker here


def test_failed_jobs_are_retried_and_a_jobs_own_max_retries_wins(serve, gearman, tmp_path):
    serve("worker")
    marker = tmp_path / "runs"
    jobs = [{"task": "shop.worker.fail_the_first_time", "args": [str(marker)], "max_retries": 1},
            {"task": "shop.worker.fail", "args": ["always"]}]

    second_try, failure = gearman.submit_multiple_jobs(jobs, max_retries=2, return_exceptions=True)

    assert second_try == "second try"
    assert failure.message == "always"
    assert marker.read_text() == "xx"  # its own max_retries won: it ran exactly twice


def test_eager_batches_run_in_this_process(settings, refused_address):
    settings.GEARMAN_ALWAYS_EAGER = True
    settings.GEARMAN_SERVERS = [refused_address]  # nothing may be sent

    three, failure = GearmanClient().submit_multiple_jobs(
        [{"task": add, "args": [1, 2]}, {"task": "shop.worker.fail", "args": ["eager"]}], return_exceptions=True)

    assert three == 3
    assert (failure.exception_type, failure.message) == ("ValueError", "eager")


@pytest.mark.parametrize(("jobs", "argument_lists", "error"), [
    ([{"args": [1, 2]}], None, r"job #1 has no 'task' \(its keys: \['args'\]\)"),
    ([{"task": add}, {"task": add, "a": 1}], None, r"job #2 has unknown keys \['a'\]: task arguments go in 'args'"),
    ([{"task": add, "poll_timeout": 5}], None, "job #1 sets poll_timeout, which the whole batch shares"),
    ([[1, 2]], None, "job #1 must be a dict with a 'task'"),
    ({"task": add}, None, "jobs must be a list of job dicts, or a task name, not dict"),
    ([{"task": add}], [[1, 2]], "argument_lists goes with a single task"),
    (add, None, r"submit_multiple_jobs\(task, argument_lists\) needs a list of argument lists"),
    (add, [[1, 2], 3], "argument list #2 must be a list or tuple of positional arguments, not int"),
    (add, ["ab"], r"argument list #1 must be .* not str \(one argument per job: \[\[value\] for value in values\]"),
    (reverse, [[b"a", b"b"]], "raw task shop.worker.reverse takes exactly one bytes or str argument"),
])
def test_bad_batches_are_refused_before_anything_is_sent(settings, refused_address, jobs, argument_lists, error):
    settings.GEARMAN_SERVERS = [refused_address]  # sending would fail differently

    with pytest.raises(TypeError, match=error):
        GearmanClient().submit_multiple_jobs(jobs, argument_lists)


def test_bad_retry_counts_are_refused(settings, refused_address):
    settings.GEARMAN_SERVERS = [refused_address]
    with pytest.raises(ValueError, match="max_retries must be a whole number >= 0, not -1"):
        GearmanClient().submit_multiple_jobs([{"task": add, "max_retries": -1}])


def test_an_unreachable_server_fails_every_job_of_the_batch(settings, refused_address):
    settings.GEARMAN_SERVERS = [refused_address]

    results = GearmanClient().submit_multiple_jobs(add, [[1, 2], [3, 4]], return_exceptions=True)

    assert [type(result) for result in results] == [GearmanServerUnavailable] * 2
