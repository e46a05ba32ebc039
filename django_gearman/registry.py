"""Discovery of every installed app's `gearman_workers` package."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass

from django.apps import apps

from .tasks import WORKERS_PACKAGE, Task


@dataclass(frozen=True)
class WorkerModule:
    """One module of an app's gearman_workers package: a worker and its tasks."""

    app_label: str
    name: str
    module: str
    tasks: tuple[Task, ...]

    def tasks_for(self, queue: str | None = None) -> tuple[Task, ...]:
        return self.tasks if queue is None else tuple(task for task in self.tasks if task.queue == queue)


class UnknownWorker(LookupError):
    """No such app or worker; the message lists what exists."""


def discover() -> list[WorkerModule]:
    """Import every worker module of every installed app (import errors propagate)."""
    workers = []
    for app_config in apps.get_app_configs():
        package_name = f"{app_config.name}.{WORKERS_PACKAGE}"
        if importlib.util.find_spec(package_name) is None:
            continue
        package = importlib.import_module(package_name)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
            if info.ispkg:
                continue
            module = importlib.import_module(f"{package_name}.{info.name}")
            tasks = tuple(
                value for value in vars(module).values() if isinstance(value, Task) and value.__module__ == module.__name__
            )
            workers.append(WorkerModule(app_config.label, info.name, module.__name__, tasks))
    return workers


def find_worker(app_label: str, name: str) -> WorkerModule:
    workers = discover()
    labels = sorted({worker.app_label for worker in workers})
    if app_label not in labels:
        installed = app_label in {config.label for config in apps.get_app_configs()}
        reason = f"app {app_label!r} has no {WORKERS_PACKAGE} package" if installed else f"no installed app {app_label!r}"
        raise UnknownWorker(f"{reason}; apps with workers: {', '.join(labels) or 'none'}")
    for worker in workers:
        if worker.app_label == app_label and worker.name == name:
            return worker
    names = sorted(worker.name for worker in workers if worker.app_label == app_label)
    raise UnknownWorker(f"app {app_label!r} has no worker {name!r}; its workers: {', '.join(names)}")
