"""Discovery of every installed app's `gearman_workers` package."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from .exceptions import UnknownWorker
from .tasks import WORKERS_PACKAGE, Task


@dataclass(frozen=True)
class WorkerModule:
    """One module of an app's gearman_workers package: a worker and its tasks."""

    app_label: str
    name: str
    module: str
    tasks: tuple[Task, ...]

    def tasks_for(self, queue: str | None = None) -> tuple[Task, ...]:
        """Its tasks, or those of one queue; UnknownWorker (listing the queues) if that queue has none."""
        if queue is None:
            return self.tasks
        tasks = tuple(task for task in self.tasks if task.queue == queue)
        if not tasks:
            queues = ", ".join(sorted({task.queue for task in self.tasks if task.queue is not None})) or "none"
            raise UnknownWorker(
                f"worker {self.app_label}.{self.name} has no tasks in queue {queue!r}; its queues: {queues}"
            )
        return tasks


def discover() -> list[WorkerModule]:
    """Import every worker module of every installed app (import errors propagate)."""
    workers = []
    for app_config in apps.get_app_configs():
        package_name = f"{app_config.name}.{WORKERS_PACKAGE}"
        if importlib.util.find_spec(package_name) is None:
            continue
        package = importlib.import_module(package_name)
        if not hasattr(package, "__path__"):
            raise ImproperlyConfigured(
                f"{package.__file__} must be a package: a {WORKERS_PACKAGE}/ folder with an __init__.py "
                "and one module per worker"
            )
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
            if not info.ispkg:
                module = importlib.import_module(f"{package_name}.{info.name}")
                workers.append(WorkerModule(app_config.label, info.name, module.__name__, _tasks_defined_in(module)))
    return workers


def _tasks_defined_in(module) -> tuple[Task, ...]:
    """Tasks the module defines itself, not those it imports from elsewhere."""
    return tuple(
        value for value in vars(module).values() if isinstance(value, Task) and value.__module__ == module.__name__
    )


def find_worker(app_label: str, name: str) -> WorkerModule:
    workers = discover()
    labels = sorted({worker.app_label for worker in workers})
    if app_label not in labels:
        if app_label in {config.label for config in apps.get_app_configs()}:
            reason = f"app {app_label!r} has no {WORKERS_PACKAGE} package"
        else:
            reason = f"no installed app {app_label!r}"
        raise UnknownWorker(f"{reason}; apps with workers: {', '.join(labels) or 'none'}")
    for worker in workers:
        if worker.app_label == app_label and worker.name == name:
            return worker
    names = sorted(worker.name for worker in workers if worker.app_label == app_label)
    raise UnknownWorker(f"app {app_label!r} has no worker {name!r}; its workers: {', '.join(names)}")
