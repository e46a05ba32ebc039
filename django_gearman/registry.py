"""The task registry: every `@gearman_task` defined in this process, by name.

`tasks.Task` is the one kind of task, but the modules below it (the client,
job execution, discovery) see a task through `TaskLike` and find it here by
name, so none of them imports `tasks.py`, which imports the client to submit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured

#: The package of an installed app that holds its worker modules.
WORKERS_PACKAGE = "gearman_workers"
#: Django's tasks framework (backends.py): the task of queue Q is named this + Q.
QUEUE_FUNCTION_PREFIX = "django-tasks."


class TaskLike(Protocol):
    """What the package reads from a `django_gearman.Task`."""

    name: str  # without GEARMAN_TASK_PREFIX
    queue: str | None
    raw: bool
    takes_job: bool
    func: Callable[..., Any]
    store_result: bool | None  # None: GEARMAN_STORE_RESULTS decides
    retries: int  # attempts after the first, on the worker
    retry_backoff: float  # seconds before the first retry, doubling for each next one
    retry_on: tuple[type[BaseException], ...]  # what a retry is for
    timeout: float | None  # seconds; None: GEARMAN_TASK_TIMEOUT decides

    @property
    def function_name(self) -> str: ...  # the name gearmand knows it by (GEARMAN_TASK_PREFIX applied)

    @property
    def location(self) -> str: ...


#: Every task defined so far, by name (without GEARMAN_TASK_PREFIX).
_tasks: dict[str, TaskLike] = {}


def register(task: TaskLike) -> None:
    """Add a task; a second task of the same name defined elsewhere is a configuration error."""
    existing = _tasks.get(task.name)
    if existing is not None and existing.location != task.location:
        raise ImproperlyConfigured(
            f"two Gearman tasks are named {task.name!r}: {existing.location} and {task.location}"
        )
    _tasks[task.name] = task


def get_task(name: str) -> TaskLike | None:
    """A task defined in this process by its name (without the prefix)."""
    return _tasks.get(name)


def all_tasks() -> tuple[TaskLike, ...]:
    """Every task defined so far, in the order they were defined."""
    return tuple(_tasks.values())


def tasks_defined_in(module_name: str) -> tuple[TaskLike, ...]:
    """The tasks a module defines itself (not those it imports from elsewhere), in the order it defines them."""
    return tuple(task for task in _tasks.values() if task.func.__module__ == module_name)


def stores_result(task: TaskLike | None, store_results: bool) -> bool:
    """Whether a job of `task` goes in the result store: its own `store_result`, else the
    GEARMAN_STORE_RESULTS value given (also for a task not defined in this process)."""
    chosen = None if task is None else task.store_result
    return store_results if chosen is None else chosen
