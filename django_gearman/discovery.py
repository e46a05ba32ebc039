"""Finding the worker modules: the modules of every installed app's `gearman_workers` package."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from .exceptions import UnknownWorker
from .registry import WORKERS_PACKAGE, TaskLike, tasks_defined_in
from .spec import WorkerSpec


@dataclass(frozen=True)
class WorkerModule:
    """One module of an app's gearman_workers package, and the tasks it defines."""

    app_label: str
    name: str
    module: str
    tasks: tuple[TaskLike, ...]

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    def spec(self, queue: str | None = None) -> WorkerSpec:
        """What a worker of this module serves: its tasks, or those of one queue.

        UnknownWorker if there are none (listing the module's queues).
        """
        if not self.tasks:
            raise UnknownWorker(f"worker module {self.label} has no tasks")
        if queue is None:
            return WorkerSpec(self.label, self.tasks)
        tasks = tuple(task for task in self.tasks if task.queue == queue)
        if not tasks:
            queues = ", ".join(sorted({task.queue for task in self.tasks if task.queue is not None})) or "none"
            raise UnknownWorker(f"worker module {self.label} has no tasks in queue {queue!r}; its queues: {queues}")
        return WorkerSpec(self.label, tasks, queue)


def discover() -> list[WorkerModule]:
    """Import every worker module of every installed app (import errors propagate)."""
    found = []
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
                found.append(WorkerModule(app_config.label, info.name, module.__name__,
                                          tasks_defined_in(module.__name__)))
    return found


def find_worker_module(app_label: str, name: str) -> WorkerModule:
    """APP/gearman_workers/NAME.py; UnknownWorker (listing what exists) if there is none."""
    modules = discover()
    labels = sorted({module.app_label for module in modules})
    if app_label not in labels:
        if app_label in {config.label for config in apps.get_app_configs()}:
            reason = f"app {app_label!r} has no {WORKERS_PACKAGE} package"
        else:
            reason = f"no installed app {app_label!r}"
        raise UnknownWorker(f"{reason}; apps with worker modules: {', '.join(labels) or 'none'}")
    for module in modules:
        if module.app_label == app_label and module.name == name:
            return module
    names = sorted(module.name for module in modules if module.app_label == app_label)
    raise UnknownWorker(f"app {app_label!r} has no worker module {name!r}; its worker modules: {', '.join(names)}")
