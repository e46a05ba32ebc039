"""`WorkerSpec`: what one worker process serves.

Built from a worker module (`discovery.WorkerModule.spec`) or from the queues
of a TASKS backend (`backend_worker.queues_spec`); the worker runtime serves
any of them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from .registry import TaskLike


@dataclass(frozen=True)
class WorkerSpec:
    """Tasks to serve, under a label that names them in logs and the worker's client id."""

    label: str  # "shop.mail" (a worker module), "django_tasks.default" (a TASKS backend)
    tasks: tuple[TaskLike, ...]
    queue: str | None = None  # the one queue served, if the tasks were chosen by queue
