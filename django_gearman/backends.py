"""`GearmanBackend`: Django's tasks framework on Gearman, on the enqueueing side.

Each queue of the backend is one Gearman function, `django-tasks.<queue>`
(with GEARMAN_TASK_PREFIX). A job's data is the usual request envelope whose
keyword arguments name the task by its import path and carry its arguments:
`{"args":[],"kwargs":{"task":"shop.tasks.note","args":[1],"kwargs":{}}}`.
`manage.py gearman_worker --django-tasks` serves those functions
(`backend_worker.py`); the framework itself comes from `tasks_framework.py`.
"""

from __future__ import annotations

import os
import socket
import traceback
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.module_loading import import_string

from . import conf
from .client import default_client
from .exceptions import ResultNotFound
from .registry import QUEUE_FUNCTION_PREFIX
from .tasks_framework import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    normalize_json,
    task,
    task_backends,
    task_enqueued,
    task_finished,
    task_started,
)

__all__ = ["GearmanBackend", "GearmanTaskResult", "InvalidTask", "gearman_priority", "queue_function", "task",
           "task_backends"]


def queue_function(queue_name: str) -> str:
    """The Gearman name of a queue, without GEARMAN_TASK_PREFIX: `django-tasks.<queue>`."""
    return QUEUE_FUNCTION_PREFIX + queue_name


def gearman_priority(priority: int) -> str:
    """Django's -100..100 onto Gearman's three priorities: above the default 0 is
    "high", the default is "normal", below it "low". Within one of them jobs run
    in the order they came."""
    return "high" if priority > 0 else "low" if priority < 0 else "normal"


def queue_problem(queue_name) -> str | None:
    """Why `queue_name` cannot be part of a Gearman function name, or None if it can."""
    if not isinstance(queue_name, str) or not queue_name or any(c.isspace() or c == "\0" for c in queue_name):
        return (f"queue name {queue_name!r} cannot be part of a Gearman function name "
                "(a non-empty string without whitespace)")
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class GearmanTaskResult(TaskResult):
    """GearmanBackend's TaskResult: `id` is the job id, and `handle` gearmand's job handle
    (`str(JobHandle)`), for `GearmanClient().get_job_status(result.handle)` while the job is
    queued or running. None in eager mode, for a task with run_after until it is sent, and from
    the store until a worker took the job."""

    handle: str | None = None


#: The result store's statuses in the framework's terms (a job waiting for a retry is READY).
STATUSES = {"queued": TaskResultStatus.READY, "running": TaskResultStatus.RUNNING,
            "succeeded": TaskResultStatus.SUCCESSFUL, "failed": TaskResultStatus.FAILED}


class GearmanBackend(BaseTaskBackend):
    """Enqueues tasks as background Gearman jobs.

    Servers, prefix, serializer and signing key are the GEARMAN_* settings.
    `TaskResult.id` is the job id; with GEARMAN_STORE_RESULTS the result store
    answers `get_result(id)` and `TaskResult.refresh()`.
    """

    supports_async_task = True  # the worker runs coroutine functions to completion
    supports_priority = True  # three bands: see gearman_priority()
    # run_after: a delayed job (delayed.py), stored until then and sent when due. Not
    # SUBMIT_JOB_EPOCH: gearmand 1.1 does not wake idle workers when such a job falls due.
    supports_defer = True

    @property
    def supports_get_result(self) -> bool:
        """gearmand forgets a background job, and its result, once it is done: the result store keeps them."""
        return conf.get().store_results

    def __init__(self, alias: str, params: dict):
        super().__init__(alias, params)
        if self.options:
            raise ImproperlyConfigured(
                f"TASKS[{alias!r}]: GearmanBackend takes no OPTIONS (got {sorted(self.options)}); servers, prefix, "
                "serializer and signing key are the GEARMAN_* settings"
            )
        for queue_name in sorted(self.queues, key=str):
            problem = queue_problem(queue_name)
            if problem:
                raise ImproperlyConfigured(f"TASKS[{alias!r}]['QUEUES']: {problem}")

    def validate_task(self, task: Task) -> None:
        super().validate_task(task)
        problem = queue_problem(task.queue_name)  # any queue is valid for QUEUES = []
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
        submitted = client.submit_job(
            queue_function(task.queue_name),
            kwargs={"task": task.module_path, "args": args, "kwargs": kwargs},
            priority=gearman_priority(task.priority),
            background=True,
            run_at=_aware(task.run_after),
        )
        handle = None if task.run_after is not None else str(submitted)  # a delayed job has none yet
        result = self.new_result(task, submitted.job_id, args, kwargs, enqueued_at=timezone.now(), handle=handle)
        task_enqueued.send(type(self), task_result=result)
        return result

    def new_result(self, task: Task, result_id: str, args: list, kwargs: dict, *, enqueued_at,
                   handle: str | None = None) -> GearmanTaskResult:
        """A READY TaskResult of this backend."""
        return GearmanTaskResult(task=task, id=result_id, status=TaskResultStatus.READY, enqueued_at=enqueued_at,
                                 started_at=None, finished_at=None, last_attempted_at=None, args=args, kwargs=kwargs,
                                 backend=self.alias, errors=[], worker_ids=[], handle=handle)

    def get_result(self, result_id: str) -> GearmanTaskResult:
        """The result of a job of this backend, from the result store (GEARMAN_STORE_RESULTS)."""
        if not self.supports_get_result:
            raise NotImplementedError(
                "GearmanBackend reads results from the result store: set GEARMAN_STORE_RESULTS = True"
            )
        from .results import get  # the models, only when reading

        try:
            stored = get(result_id)
        except ResultNotFound as exc:
            raise TaskResultDoesNotExist(str(exc)) from None
        envelope = (stored.arguments or {}).get("kwargs", {})
        path = envelope.get("task")
        if not stored.task.startswith(QUEUE_FUNCTION_PREFIX) or not isinstance(path, str):
            raise TaskResultDoesNotExist(f"job {result_id} ({stored.task}) is not a job of Django's tasks framework")
        try:
            task = import_task(path).using(queue_name=stored.task.removeprefix(QUEUE_FUNCTION_PREFIX),
                                           backend=self.alias)
        except InvalidTask as exc:
            raise TaskResultDoesNotExist(f"job {result_id}: {exc}") from None
        result = GearmanTaskResult(
            task=task, id=stored.job_id, status=STATUSES[stored.status], enqueued_at=stored.enqueued_at,
            started_at=stored.started_at, finished_at=stored.finished_at, last_attempted_at=stored.last_attempted_at,
            args=envelope.get("args", []), kwargs=envelope.get("kwargs", {}), backend=self.alias,
            errors=[] if stored.error is None else [TaskError(exception_class_path=_class_path(stored.error.type),
                                                              traceback=stored.error.traceback)],
            worker_ids=[stored.worker_id] * stored.attempts, handle=stored.handle or None,
        )
        if stored.succeeded:
            _update(result, _return_value=stored.value)
        return result

    def _run_here(self, task: Task, args: list, kwargs: dict) -> TaskResult:
        """GEARMAN_ALWAYS_EAGER: run in this process, as Django's ImmediateBackend does."""
        result = self.new_result(task, f"eager:{uuid.uuid4().hex}", args, kwargs, enqueued_at=timezone.now())
        task_enqueued.send(type(self), task_result=result)
        try:
            self.execute(result)
        except Exception:
            pass  # a failure is in result.status and result.errors; the framework's task_finished logged it
        return result

    def execute(self, result: TaskResult) -> Any:
        """Run `result`'s task here, recording the outcome in it and sending the framework's signals.

        Returns the task's (JSON-normalized) return value; raises what it raised.
        Used at enqueue with GEARMAN_ALWAYS_EAGER, and by the worker for each job.
        """
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


def import_task(path: str) -> Task:
    """The task at `path`; anything else is refused, so a job cannot call arbitrary functions."""
    try:
        found = import_string(path)
    except ImportError as exc:
        raise InvalidTask(f"cannot import the Django task {path!r} on this worker: {exc}") from None
    if not isinstance(found, Task):
        raise InvalidTask(f"{path!r} is not a Django task ({type(found).__name__}); workers only run @task functions")
    return found


def _class_path(error_type: str | None) -> str:
    """An exception_class_path from a failure report's type (which drops "builtins.")."""
    if error_type is None:  # a failure text from a worker that is not ours
        return "django_gearman.exceptions.GearmanJobFailed"
    return error_type if "." in error_type else f"builtins.{error_type}"


def _aware(moment):
    """run_after as an aware datetime: without USE_TZ the framework takes local time."""
    return moment if moment is None or timezone.is_aware(moment) else timezone.make_aware(moment)


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
