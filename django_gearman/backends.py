"""`GearmanBackend`: Django's tasks framework on Gearman.

Each queue of the backend is one Gearman function, `django-tasks.<queue>`
(with GEARMAN_TASK_PREFIX). A job's data is the usual request envelope whose
keyword arguments name the task by its import path and carry its arguments:
`{"args":[],"kwargs":{"task":"shop.tasks.note","args":[1],"kwargs":{}}}`.
`manage.py gearman_worker --django-tasks` serves those functions with the
one worker runtime (`django_gearman.worker.GearmanWorker`), imports each job's task
by its path, and runs it only if that path names a task of the framework.
"""

from __future__ import annotations

import os
import socket
import traceback
import uuid
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from .client import default_client
from .exceptions import UnknownWorker
from .protocol import JobHandle
from .spec import WorkerSpec
from .tasks import Task as GearmanTask

try:  # Django 6 has the framework built in; on Django 5.2 it is the django-tasks backport.
    from django.tasks import TaskContext, TaskResult, TaskResultStatus, task, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import DEFAULT_TASK_BACKEND_ALIAS, Task, TaskError
    from django.tasks.exceptions import InvalidTask, InvalidTaskBackend
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
except ImportError:
    try:
        from django_tasks import TaskContext, TaskResult, TaskResultStatus, task, task_backends
        from django_tasks.backends.base import BaseTaskBackend
        from django_tasks.base import DEFAULT_TASK_BACKEND_ALIAS, Task, TaskError
        from django_tasks.exceptions import InvalidTaskBackendError as InvalidTaskBackend
        from django_tasks.exceptions import InvalidTaskError as InvalidTask
        from django_tasks.signals import task_enqueued, task_finished, task_started
        from django_tasks.utils import normalize_json
    except ImportError as exc:
        raise ImproperlyConfigured(
            "django_gearman.backends needs Django's tasks framework: Django 6, or on Django 5.2 the "
            "backport (pip install django-tasks, and add 'django_tasks' to INSTALLED_APPS)"
        ) from exc

__all__ = ["GearmanBackend", "InvalidTask", "gearman_priority", "queue_function", "queue_worker", "task",
           "task_backends"]

#: The Gearman function of queue Q is this + Q (after GEARMAN_TASK_PREFIX).
QUEUE_FUNCTION_PREFIX = "django-tasks."


def queue_function(queue_name: str) -> str:
    """The Gearman name of a queue, without GEARMAN_TASK_PREFIX: `django-tasks.<queue>`."""
    return QUEUE_FUNCTION_PREFIX + queue_name


def gearman_priority(priority: int) -> str:
    """Django's -100..100 onto Gearman's three priorities: above the default 0 is
    "high", the default is "normal", below it "low". Within one of them jobs run
    in the order they came."""
    return "high" if priority > 0 else "low" if priority < 0 else "normal"


def _queue_problem(queue_name) -> str | None:
    if not isinstance(queue_name, str) or not queue_name or any(c.isspace() or c == "\0" for c in queue_name):
        return (f"queue name {queue_name!r} cannot be part of a Gearman function name "
                "(a non-empty string without whitespace)")
    return None


class GearmanBackend(BaseTaskBackend):
    """Enqueues tasks as background Gearman jobs.

    Servers, prefix, serializer and signing key are the GEARMAN_* settings.
    `TaskResult.id` is the job handle as a string (`str(JobHandle)`).
    """

    supports_async_task = True  # the worker runs coroutine functions to completion
    supports_priority = True  # three bands: see gearman_priority()
    # gearmand 1.1 keeps SUBMIT_JOB_EPOCH jobs, but does not wake idle workers
    # when one falls due: it would wait for the next other job to arrive.
    supports_defer = False
    supports_get_result = False  # gearmand forgets a background job, and its result, once it is done

    def __init__(self, alias: str, params: dict):
        super().__init__(alias, params)
        if self.options:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]: GearmanBackend takes no OPTIONS (got {sorted(self.options)}); servers, prefix, "
                "serializer and signing key are the GEARMAN_* settings"
            )
        for queue_name in sorted(self.queues, key=str):
            problem = _queue_problem(queue_name)
            if problem:
                raise ImproperlyConfigured(f"TASKS[{alias!r}]['QUEUES']: {problem}")

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        problem = _queue_problem(task.queue_name)  # any queue is valid for QUEUES = []
        if problem:
            raise InvalidTask(problem)

    def enqueue(self, task: Task, args, kwargs) -> TaskResult:
        self.validate_task(task)
        _check_importable(task)
        try:
            args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot enqueue {task.module_path}: task arguments must be JSON values ({exc})") from None
        client = default_client()
        if client.transport.in_process:
            return self._run_here(task, args, kwargs)
        handle = client.submit_job(
            queue_function(task.queue_name),
            kwargs={"task": task.module_path, "args": args, "kwargs": kwargs},
            priority=gearman_priority(task.priority),
            background=True,
        )
        result = self._result(task, str(handle), args, kwargs, enqueued_at=timezone.now())
        task_enqueued.send(type(self), task_result=result)
        return result

    def run_job(self, path, args, kwargs, *, queue_name: str, result_id: str) -> Any:
        """Run the task a worker got from a queue; returns its return value, raises what it raised."""
        if not isinstance(path, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
            raise InvalidTask(f'a Django task job carries "task" (an import path), "args" (a list) and "kwargs" '
                              f"(an object); got task={path!r}, args={args!r}, kwargs={kwargs!r}")
        task = _import_task(path).using(queue_name=queue_name, backend=self.alias)
        return self._run(self._result(task, result_id, args, kwargs, enqueued_at=None))

    def _result(self, task: Task, result_id: str, args: list, kwargs: dict, *, enqueued_at) -> TaskResult:
        return TaskResult(task=task, id=result_id, status=TaskResultStatus.READY, enqueued_at=enqueued_at,
                          started_at=None, finished_at=None, last_attempted_at=None, args=args, kwargs=kwargs,
                          backend=self.alias, errors=[], worker_ids=[])

    def _run_here(self, task: Task, args: list, kwargs: dict) -> TaskResult:
        """GEARMAN_ALWAYS_EAGER: run in this process, as Django's ImmediateBackend does."""
        result = self._result(task, f"eager:{uuid.uuid4().hex}", args, kwargs, enqueued_at=timezone.now())
        task_enqueued.send(type(self), task_result=result)
        try:
            self._run(result)
        except Exception:
            pass  # a failure is in result.status and result.errors; the framework's task_finished logged it
        return result

    def _run(self, result: TaskResult) -> Any:
        """Run `result`'s task, recording the outcome in it and sending the framework's signals."""
        started = timezone.now()
        _update(result, status=TaskResultStatus.RUNNING, started_at=started, last_attempted_at=started)
        result.worker_ids.append(f"{socket.gethostname()}:{os.getpid()}")
        task_started.send(type(self), task_result=result)
        task = result.task
        context = (TaskContext(task_result=result),) if task.takes_context else ()
        try:
            value = normalize_json(task.call(*context, *result.args, **result.kwargs))
        except Exception as exc:
            result.errors.append(TaskError(
                exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
                traceback="".join(traceback.format_exception(exc)),
            ))
            _update(result, status=TaskResultStatus.FAILED, finished_at=timezone.now())
            task_finished.send(type(self), task_result=result)  # inside except: receivers may log exc_info
            raise
        _update(result, status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now(), _return_value=value)
        task_finished.send(type(self), task_result=result)
        return value


def _update(result: TaskResult, **changes) -> None:
    for name, value in changes.items():
        object.__setattr__(result, name, value)  # TaskResult is frozen; backends update it in place


def _check_importable(task: Task) -> None:
    """Workers find a task by its function's import path, so that path must name the task itself."""
    try:
        found = import_string(task.module_path)
    except ImportError:
        found = None
    if not isinstance(found, Task) or found.func is not task.func:
        raise InvalidTask(
            f"{task.module_path} is not a task: workers import tasks by that path, so decorate the function "
            "with @task where it is defined, under its own name"
        )


def _import_task(path: str) -> Task:
    """The task at `path`; anything else is refused, so a job cannot call arbitrary functions."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise InvalidTask(f"cannot import the Django task {path!r} on this worker: {exc}") from None
    if not isinstance(found, Task):
        raise InvalidTask(f"{path!r} is not a Django task ({type(found).__name__}); workers only run @task functions")
    return found


def queue_worker(alias: str | None = None, queue_name: str | None = None) -> WorkerSpec:
    """What `GearmanWorker` serves for `gearman_worker --django-tasks`: one Gearman
    function per queue of the TASKS backend `alias` (default "default"), or only `queue_name`."""
    alias = alias or DEFAULT_TASK_BACKEND_ALIAS
    backend = _gearman_backend(alias)
    if queue_name is None and not backend.queues:
        raise UnknownWorker(f"TASKS[{alias!r}] accepts any queue (QUEUES = []): name the queue to serve with -q")
    if queue_name is not None:
        if backend.queues and queue_name not in backend.queues:
            raise UnknownWorker(f"TASKS[{alias!r}] has no queue {queue_name!r}; its QUEUES: "
                                f"{', '.join(sorted(backend.queues))}")
        problem = _queue_problem(queue_name)
        if problem:
            raise UnknownWorker(problem)
    queues = sorted(backend.queues) if queue_name is None else [queue_name]
    return WorkerSpec(f"django_tasks.{alias}", tuple(_queue_task(backend, name) for name in queues), queue_name)


def _gearman_backend(alias: str) -> GearmanBackend:
    try:
        backend = task_backends[alias]
    except InvalidTaskBackend:
        raise UnknownWorker(
            f"no TASKS backend {alias!r}; the backends: {', '.join(sorted(task_backends.settings)) or 'none'}"
        ) from None
    if not isinstance(backend, GearmanBackend):
        kind = f"{type(backend).__module__}.{type(backend).__qualname__}"
        raise UnknownWorker(f"TASKS[{alias!r}] is a {kind}, not a django_gearman.backends.GearmanBackend")
    return backend


def _queue_task(backend: GearmanBackend, queue_name: str) -> GearmanTask:
    def run_django_task(*, task, args=None, kwargs=None, job):
        result_id = str(JobHandle(job.handle.decode(), job.server))  # the enqueuer's TaskResult.id
        return backend.run_job(task, [] if args is None else args, {} if kwargs is None else kwargs,
                               queue_name=queue_name, result_id=result_id)

    return GearmanTask(run_django_task, name=queue_function(queue_name), queue=queue_name)
