"""The worker side of `GearmanBackend`: what `manage.py gearman_worker --django-tasks`
serves, and how it runs each job.

One Gearman function per queue of a TASKS backend. A job names its task by
import path; the worker imports it and runs it only if that path names a task
of the framework, through the backend's `execute`, so the framework's signals
fire with the enqueuer's result id.
"""

from __future__ import annotations

from typing import Any

from .backends import GearmanBackend, import_task, queue_function, queue_problem
from .exceptions import UnknownWorker
from .protocol import Job, JobHandle
from .spec import WorkerSpec
from .tasks import Task as GearmanTask
from .tasks_framework import DEFAULT_TASK_BACKEND_ALIAS, InvalidTask, InvalidTaskBackend, task_backends


def queues_spec(alias: str | None = None, queue_name: str | None = None) -> WorkerSpec:
    """One Gearman function per queue of the TASKS backend `alias` (default "default"), or only `queue_name`."""
    alias = alias or DEFAULT_TASK_BACKEND_ALIAS
    backend = _gearman_backend(alias)
    if queue_name is None and not backend.queues:
        raise UnknownWorker(f"TASKS[{alias!r}] accepts any queue (QUEUES = []): name the queue to serve with -q")
    if queue_name is not None:
        if backend.queues and queue_name not in backend.queues:
            raise UnknownWorker(f"TASKS[{alias!r}] has no queue {queue_name!r}; its QUEUES: "
                                f"{', '.join(sorted(backend.queues))}")
        problem = queue_problem(queue_name)
        if problem:
            raise UnknownWorker(problem)
    queues = sorted(backend.queues) if queue_name is None else [queue_name]
    return WorkerSpec(f"django_tasks.{alias}", tuple(_queue_task(backend, name) for name in queues), queue_name)


def run_job(backend: GearmanBackend, path, args, kwargs, *, queue_name: str, result_id: str,
            handle: str | None = None) -> Any:
    """Run the task a worker got from a queue; returns its return value, raises what it raised."""
    if not isinstance(path, str) or not isinstance(args, list) or not isinstance(kwargs, dict):
        raise InvalidTask(f'a Django task job carries "task" (an import path), "args" (a list) and "kwargs" '
                          f"(an object); got task={path!r}, args={args!r}, kwargs={kwargs!r}")
    task = import_task(path).using(queue_name=queue_name, backend=backend.alias)
    return backend.execute(backend.new_result(task, result_id, args, kwargs, enqueued_at=None, handle=handle))


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
    """The Gearman task a worker registers for one queue."""

    def run_django_task(*, task, args=None, kwargs=None, job: Job):
        handle = str(JobHandle(job.handle.decode(), job.server))
        # The enqueuer's TaskResult.id: the job id (a job sent without one is known by its handle).
        result_id = job.unique.decode("utf-8", "backslashreplace") or handle
        return run_job(backend, task, [] if args is None else args, {} if kwargs is None else kwargs,
                       queue_name=queue_name, result_id=result_id, handle=handle)

    return GearmanTask(run_django_task, name=queue_function(queue_name), queue=queue_name)

