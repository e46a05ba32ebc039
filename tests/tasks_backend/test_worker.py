"""`@task` functions enqueued through GearmanBackend and run by a real
`manage.py gearman_worker --django-tasks` against a real gearmand."""

import subprocess
import sys

import pytest
from shop.tasks import fail, note, note_async, note_context
from support.gearmand import function_status
from support.processes import manage_py_env
from support.tasks_backend import functions_of

from django_gearman import GearmanClient, GearmanJobFailed, JobHandle
from django_gearman.backends import InvalidTask

INVALID_TASK = f"{InvalidTask.__module__}.{InvalidTask.__qualname__}"


def test_an_enqueued_task_runs_on_the_worker_with_its_arguments(gearman_settings, tasks_worker, notes):
    worker = tasks_worker()
    result = note.enqueue(str(notes), 1, "two", (3.5, None), flag=True, nested={"a": [{"b": "ü"}]})

    [entry] = notes.wait()
    assert entry == {"pid": worker.pid, "args": [1, "two", [3.5, None]],
                     "kwargs": {"flag": True, "nested": {"a": [{"b": "ü"}]}}}
    assert (result.status, result.backend, result.task.func) == ("READY", "default", note.func)
    assert result.args == [str(notes), 1, "two", [3.5, None]]  # as the worker sees them: JSON values
    assert result.enqueued_at is not None
    assert JobHandle.from_string(result.handle).server == gearman_settings.address
    assert len(result.id) == 32  # the job id


def test_a_task_that_takes_the_context_sees_its_result_id_and_queue(tasks_worker, notes):
    worker = tasks_worker()
    result = note_context.using(queue_name="reports").enqueue(str(notes))

    [entry] = notes.wait()
    assert entry == {"pid": worker.pid, "id": result.id, "attempt": 1, "backend": "default", "queue": "reports",
                     "args": [str(notes)]}


def test_an_async_task_runs_to_completion(tasks_worker, notes):
    worker = tasks_worker()
    note_async.enqueue(str(notes), "awaited")
    assert notes.wait() == [{"pid": worker.pid, "args": ["awaited"], "async": True}]


def test_a_failing_task_is_logged_and_the_worker_goes_on(tasks_worker, notes):
    worker = tasks_worker()
    failed = fail.enqueue("out of stock")
    note.enqueue(str(notes), "next")

    assert notes.wait() == [{"pid": worker.pid, "args": ["next"], "kwargs": {}}]
    handle = JobHandle.from_string(failed.handle).handle
    assert f"task django-tasks.default (job {handle}, id {failed.id}) failed" in worker.output
    assert "ValueError: out of stock" in worker.output
    assert worker.process.poll() is None


@pytest.mark.parametrize(("request_kwargs", "message"), [
    ({"task": "os.getcwd"}, "'os.getcwd' is not a Django task (builtin_function_or_method); workers only run"),
    ({"task": "shop.tasks.missing"}, "cannot import the Django task 'shop.tasks.missing' on this worker"),
    ({"task": "shop.tasks.note", "args": "not a list"}, 'a Django task job carries "task" (an import path)'),
])
def test_a_job_that_does_not_name_a_task_is_refused(gearman_settings, tasks_worker, notes, request_kwargs, message):
    tasks_worker()
    client = GearmanClient()
    with pytest.raises(GearmanJobFailed) as failed:
        client.submit_job("django-tasks.default", kwargs=request_kwargs, poll_timeout=30)
    assert failed.value.exception_type == INVALID_TASK
    assert message in failed.value.message
    # Foreground jobs get the return value: the worker still runs real tasks.
    assert client.submit_job("django-tasks.default", kwargs={"task": "shop.tasks.note", "args": [str(notes)]},
                             poll_timeout=30) is None
    assert len(notes.entries()) == 1


def test_priorities_map_onto_gearman_high_normal_and_low(gearman_settings, tasks_worker, notes):
    for priority, label in [(-100, "lowest"), (0, "normal"), (-1, "low"), (1, "high"), (100, "highest")]:
        note.using(priority=priority).enqueue(str(notes), label)
    tasks_worker()  # started after all five are queued, so gearmand's order decides

    order = [entry["args"][0] for entry in notes.wait(5)]
    assert order == ["high", "highest", "normal", "lowest", "low"]  # three bands, first come first served in each


def test_a_worker_serves_every_queue_of_its_backend_or_only_one(gearman_settings, tasks_worker, notes, settings):
    settings.GEARMAN_TASK_PREFIX = "staging."
    staging = {"GEARMAN_TASK_PREFIX": "staging."}
    reports_worker = tasks_worker("-q", "reports", env=staging)
    assert functions_of(gearman_settings, reports_worker.pid) == {"staging.django-tasks.reports"}

    note.enqueue(str(notes), "default queue")
    note.using(queue_name="reports").enqueue(str(notes), "reports queue")
    assert notes.wait() == [{"pid": reports_worker.pid, "args": ["reports queue"], "kwargs": {}}]
    waiting = function_status(gearman_settings, "staging.django-tasks.default")
    assert (waiting.total, waiting.running, waiting.available_workers) == (1, 0, 0)

    every_queue_worker = tasks_worker(env=staging)
    assert functions_of(gearman_settings, every_queue_worker.pid) == {
        "staging.django-tasks.default", "staging.django-tasks.reports"}
    assert notes.wait(2)[1] == {"pid": every_queue_worker.pid, "args": ["default queue"], "kwargs": {}}


@pytest.mark.parametrize(("options", "message"), [
    (["--django-tasks", "-n", "worker"], "-n/--name names a worker module of an app: give the app with -a/--app"),
    (["--django-tasks", "--backend", "nope"], "no TASKS backend 'nope'; the backends: default"),
    (["--django-tasks", "-q", "nope"], "TASKS['default'] has no queue 'nope'; its QUEUES: default, reports"),
    (["-a", "shop", "-n", "worker", "--backend", "default"], "--backend goes with --django-tasks"),
    ([], "say what to serve: -a APP [-n WORKER], --all or --django-tasks"),
])
def test_options_that_do_not_fit_exit_2_naming_the_problem(start_worker, options, message):
    worker = start_worker(*options, servers=["127.0.0.1:1"], wait=False)
    assert worker.wait() == 2
    assert worker.output.strip() == f"CommandError: {message}"


#: gearman_worker --django-tasks where neither Django 6's django.tasks nor the backport can be imported.
WITHOUT_TASKS_FRAMEWORK = """
import os
import sys
os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
sys.modules["django.tasks"] = sys.modules["django_tasks"] = None  # what a missing module looks like to imports
from testproject import settings
if "django_tasks" in settings.INSTALLED_APPS:
    settings.INSTALLED_APPS.remove("django_tasks")
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "gearman_worker", "--django-tasks"])
"""


def test_without_the_tasks_framework_the_worker_says_what_to_install_in_one_line():
    finished = subprocess.run([sys.executable, "-c", WITHOUT_TASKS_FRAMEWORK], env=manage_py_env(["127.0.0.1:1"]),
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 1
    assert finished.stderr.splitlines() == [
        "CommandError: django_gearman.backends needs Django's tasks framework: Django 6, or on Django 5.2 the "
        "backport (pip install django-tasks, and add 'django_tasks' to INSTALLED_APPS)"
    ]
