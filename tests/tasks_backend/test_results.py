"""`GearmanBackend.get_result()` and `TaskResult.refresh()` from the result store, with real
workers, on both databases: what Django's tasks framework promises a backend that has results."""

from __future__ import annotations

import pytest
from shop.tasks import fail, note, total
from support.commands import run
from support.waiting import wait_for

from django_gearman.backends import task_backends
from django_gearman.tasks_framework import TaskResultDoesNotExist, TaskResultStatus

try:
    from django.tasks.exceptions import TaskResultMismatch
except ImportError:  # Django 5.2: the backport
    from django_tasks.exceptions import TaskResultMismatch


@pytest.fixture
def storing_worker(db_backend, settings, tasks_worker):
    """A --django-tasks worker with the result store on, here and there."""
    settings.GEARMAN_STORE_RESULTS = True
    return tasks_worker(env={**db_backend.env, "GEARMAN_STORE_RESULTS": "1"})


def finished(result):
    return wait_for(lambda: (found := task_backends["default"].get_result(result.id)).is_finished and found,
                    timeout=30, message=f"task result {result.id} to finish")


def test_a_successful_task_is_read_back_with_its_return_value(storing_worker):
    result = total.enqueue(2, 3)
    assert task_backends["default"].supports_get_result

    fetched = finished(result)
    assert (fetched.status, fetched.return_value, fetched.attempts) == (TaskResultStatus.SUCCESSFUL, 5, 1)
    assert (fetched.id, fetched.task.func, fetched.args, fetched.kwargs) == (result.id, total.func, [2, 3], {})
    assert fetched.worker_ids[0].split(":")[1:] == [str(storing_worker.pid), "django_tasks.default"]
    assert fetched.enqueued_at <= fetched.started_at <= fetched.last_attempted_at <= fetched.finished_at
    assert (fetched.errors, fetched.handle) == ([], result.handle)
    assert total.get_result(result.id).return_value == 5

    result.refresh()
    assert (result.status, result.return_value, result.finished_at) == ("SUCCESSFUL", 5, fetched.finished_at)


def test_a_failed_task_is_read_back_with_its_error(storing_worker):
    result = fail.enqueue("out of stock")

    fetched = finished(result)
    assert fetched.status == TaskResultStatus.FAILED
    [error] = fetched.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert error.exception_class is ValueError
    assert "ValueError: out of stock" in error.traceback
    with pytest.raises(ValueError, match="Task failed"):
        _ = fetched.return_value
    result.refresh()
    assert (result.status, result.errors) == ("FAILED", fetched.errors)


def test_a_queued_task_is_ready_until_a_worker_runs_it(db_backend, settings, tasks_worker, notes):
    settings.GEARMAN_STORE_RESULTS = True
    result = note.enqueue(str(notes), "later")
    waiting = task_backends["default"].get_result(result.id)
    assert (waiting.status, waiting.started_at, waiting.worker_ids, waiting.args) == (
        TaskResultStatus.READY, None, [], [str(notes), "later"])
    tasks_worker(env={**db_backend.env, "GEARMAN_STORE_RESULTS": "1"})
    assert finished(result).status == TaskResultStatus.SUCCESSFUL


def test_unknown_ids_and_other_tasks_results_are_refused(storing_worker):
    with pytest.raises(TaskResultDoesNotExist, match="no stored result for job 'no-such-job'"):
        task_backends["default"].get_result("no-such-job")
    done = finished(total.enqueue(1))
    with pytest.raises(TaskResultMismatch):
        note.get_result(done.id)


def test_a_django_task_job_is_requeued_through_its_queue(storing_worker):
    first = finished(total.enqueue(4, 5))

    [line] = run("gearman_requeue", first.id).splitlines()
    new_id = line.split(" ")[2].rstrip(":")
    again = finished(task_backends["default"].get_result(new_id))
    assert (again.status, again.return_value, again.args) == ("SUCCESSFUL", 9, [4, 5])
