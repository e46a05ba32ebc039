"""GearmanBackend in the enqueuing process: what it accepts, what it refuses and
why, and GEARMAN_ALWAYS_EAGER. (test_worker.py runs tasks on real workers.)"""

import datetime
import os

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from shop.tasks import fail, note, note_context
from support.databases import SQLITE
from support.gearmand import function_status

from django_gearman import GearmanServerUnavailable
from django_gearman.backends import InvalidTask, gearman_priority, task, task_backends
from django_gearman.models import StoredJob
from django_gearman.serializers import PayloadCodec

GEARMAN_BACKEND = "django_gearman.backends.GearmanBackend"


def undecorated(path):
    """Module level, but its module does not hold a task by this name."""


@pytest.mark.parametrize(("change", "message"), [
    ({"run_after": timezone.now().replace(tzinfo=None)}, "run_after must be an aware datetime."),
    ({"priority": 101}, "priority must be a whole number between -100 and 100."),
    ({"queue_name": "mail"}, "Queue 'mail' is not valid for backend."),
])
def test_what_the_backend_cannot_do_is_refused_when_the_task_is_made(change, message):
    with pytest.raises(InvalidTask, match=message):
        note.using(**change)


def test_a_task_must_be_a_module_level_function():
    def nested(): ...

    with pytest.raises(InvalidTask, match="Task function must be defined at a module level."):
        task(nested)


def test_a_task_its_worker_could_not_import_by_path_is_refused():
    with pytest.raises(InvalidTask, match=f"{__name__}.undecorated is not a task: workers import tasks by that path"):
        task(undecorated).enqueue("ignored")


def test_arguments_must_be_json_values_and_nothing_is_sent_otherwise(gearman_settings, notes):
    with pytest.raises(TypeError, match="cannot enqueue shop.tasks.note: task arguments must be JSON values "
                                        r"\(Unsupported type: <class 'set'>\)"):
        note.enqueue(str(notes), {1, 2})
    assert function_status(gearman_settings, "django-tasks.default") is None


def test_without_a_server_enqueue_raises(settings):
    settings.GEARMAN_SERVERS = ["127.0.0.1:1"]
    with pytest.raises(GearmanServerUnavailable):
        note.enqueue("ignored")


def test_results_stay_on_the_worker():
    backend = task_backends["default"]
    assert backend.supports_get_result is False
    with pytest.raises(NotImplementedError):
        backend.get_result("H:vm:1@127.0.0.1:4730")


def test_run_after_stores_the_job_until_then_under_its_id(db_backend, refused_address, settings):
    settings.GEARMAN_SERVERS = [refused_address]  # nothing is sent now
    run_after = timezone.now() + datetime.timedelta(minutes=5)
    result = note.using(run_after=run_after, priority=10, queue_name="reports").enqueue("notes.jsonl", 1)
    assert task_backends["default"].supports_defer is True
    (job,) = StoredJob.objects.using(db_backend.alias)
    assert (result.id, result.status, result.task.run_after, result.handle) == (job.job_id, "READY", run_after, None)
    assert (job.function, job.priority, job.due_at) == ("django-tasks.reports", "high", run_after)
    assert PayloadCodec("json").decode_request(job.function, job.job_id, bytes(job.payload)) == (
        [], {"task": "shop.tasks.note", "args": ["notes.jsonl", 1], "kwargs": {}})


@pytest.mark.parametrize("db_backend", [SQLITE], indirect=True)
def test_without_use_tz_run_after_is_local_time(db_backend, refused_address, settings):
    settings.GEARMAN_SERVERS = [refused_address]
    settings.USE_TZ = False
    run_after = datetime.datetime.now() + datetime.timedelta(minutes=5)
    note.using(run_after=run_after).enqueue("notes.jsonl")
    assert StoredJob.objects.get().due_at == run_after


@pytest.mark.parametrize(("priority", "expected"), [
    (-100, "low"), (-1, "low"), (0, "normal"), (1, "high"), (100, "high"),
])
def test_django_priorities_fall_into_three_gearman_bands(priority, expected):
    assert gearman_priority(priority) == expected


def test_any_queue_name_that_can_be_a_gearman_function_is_valid_when_queues_is_empty(settings):
    settings.TASKS = {"default": {"BACKEND": GEARMAN_BACKEND, "QUEUES": []}}
    assert note.using(queue_name="anything-goes").queue_name == "anything-goes"
    with pytest.raises(InvalidTask, match="queue name 'two words' cannot be part of a Gearman function name"):
        note.using(queue_name="two words")


@pytest.mark.parametrize(("params", "message"), [
    ({"OPTIONS": {"servers": ["127.0.0.1"]}}, r"TASKS\['odd'\]: GearmanBackend takes no OPTIONS \(got \['servers'\]\)"),
    ({"QUEUES": ["fine", "not fine"]}, r"TASKS\['odd'\]\['QUEUES'\]: queue name 'not fine' cannot be part of"),
])
def test_backend_settings_it_cannot_honour_are_configuration_errors(settings, params, message):
    settings.TASKS = {**settings.TASKS, "odd": {"BACKEND": GEARMAN_BACKEND, **params}}
    with pytest.raises(ImproperlyConfigured, match=message):
        task_backends["odd"]


def test_always_eager_runs_tasks_here_and_records_the_outcome(settings, notes):
    settings.GEARMAN_ALWAYS_EAGER = True
    done = note.enqueue(str(notes), 1, key="value")
    in_context = note_context.enqueue(str(notes))
    failed = fail.enqueue("out of stock")

    assert notes.entries() == [
        {"pid": os.getpid(), "args": [1], "kwargs": {"key": "value"}},
        {"pid": os.getpid(), "id": in_context.id, "attempt": 1, "backend": "default", "queue": "default",
         "args": [str(notes)]},
    ]
    assert (done.status, done.return_value, done.attempts) == ("SUCCESSFUL", None, 1)
    assert in_context.id.startswith("eager:")
    assert failed.status == "FAILED"
    [error] = failed.errors
    assert error.exception_class_path == "builtins.ValueError"
    assert "ValueError: out of stock" in error.traceback
