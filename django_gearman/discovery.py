"""Finding the worker modules: the modules of every installed app's `gearman_workers` package,
what a worker serves (a `WorkerSpec` of a module, an app or the project), and tasks defined
where no worker can find them."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from .conf import Problem
from .exceptions import UnknownWorker
from .registry import WORKERS_PACKAGE, TaskLike, all_tasks, tasks_defined_in
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
        return _spec(self.label, f"worker module {self.label}", self.tasks, queue)


def _spec(label: str, what: str, tasks: tuple[TaskLike, ...], queue: str | None) -> WorkerSpec:
    """A worker of `tasks`, or of those in `queue`; UnknownWorker naming `what` if that leaves none."""
    if not tasks:
        raise UnknownWorker(f"{what} has no tasks")
    if queue is None:
        return WorkerSpec(label, tasks)
    chosen = tuple(task for task in tasks if task.queue == queue)
    if not chosen:
        queues = ", ".join(sorted({task.queue for task in tasks if task.queue is not None})) or "none"
        raise UnknownWorker(f"{what} has no tasks in queue {queue!r}; its queues: {queues}")
    return WorkerSpec(label, chosen, queue)


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


#: The label of a worker that serves every worker module (`gearman_worker --all`).
ALL_LABEL = "all"


def app_spec(app_label: str, queue: str | None = None) -> WorkerSpec:
    """Every task of every worker module of one app (or those of one queue), labelled with the app."""
    tasks = tuple(task for module in _worker_modules_of(app_label) for task in module.tasks)
    return _spec(app_label, f"app {app_label!r}", tasks, queue)


def project_spec(queue: str | None = None) -> WorkerSpec:
    """Every task of every worker module of every installed app (or those of one queue)."""
    tasks = tuple(task for module in discover() for task in module.tasks)
    if not tasks:
        raise UnknownWorker(f"no installed app has a {WORKERS_PACKAGE} package with tasks")
    return _spec(ALL_LABEL, "the project", tasks, queue)


def find_worker_module(app_label: str, name: str) -> WorkerModule:
    """APP/gearman_workers/NAME.py; UnknownWorker (listing what exists) if there is none."""
    modules = _worker_modules_of(app_label)
    for module in modules:
        if module.name == name:
            return module
    names = ", ".join(module.name for module in modules)
    raise UnknownWorker(f"app {app_label!r} has no worker module {name!r}; its worker modules: {names}")


def _worker_modules_of(app_label: str) -> list[WorkerModule]:
    """The worker modules of one app, in name order; UnknownWorker if it is not installed or has none."""
    modules = discover()
    labels = sorted({module.app_label for module in modules})
    if app_label in labels:
        return [module for module in modules if module.app_label == app_label]
    config = next((config for config in apps.get_app_configs() if config.label == app_label), None)
    if config is None:
        reason = f"no installed app {app_label!r}"
    elif importlib.util.find_spec(f"{config.name}.{WORKERS_PACKAGE}") is None:
        reason = f"app {app_label!r} has no {WORKERS_PACKAGE} package"
    else:
        reason = f"app {app_label!r} has no modules in its {WORKERS_PACKAGE} package"
    raise UnknownWorker(f"{reason}; apps with worker modules: {', '.join(labels) or 'none'}")


def misplaced_tasks() -> list[Problem]:
    """A warning (W002) for each task defined so far outside a worker module: no worker will ever serve it.

    Only tasks already imported are seen: worker modules are not imported here, so that a
    project's other commands do not depend on what its workers import.
    """
    found = []
    for task in all_tasks():
        module = task.func.__module__
        reason_and_hint = _not_a_worker_module(module)
        if reason_and_hint is not None:
            reason, hint = reason_and_hint
            found.append(Problem(
                "django_gearman.W002",
                f"The Gearman task {task.name!r} ({task.location}) can never be served: {reason}, and workers "
                f"serve only the modules of an installed app's {WORKERS_PACKAGE} package. Jobs submitted to it "
                "wait for a worker that never comes.",
                hint,
                error=False,
            ))
    return found


def worker_command(task: TaskLike) -> str | None:
    """The `manage.py gearman_worker` command that serves `task`, or None if no worker can."""
    module = task.func.__module__
    config = apps.get_containing_app_config(module)
    if config is None or _not_a_worker_module(module) is not None:
        return None
    return f"manage.py gearman_worker -a {config.label} -n {module.rpartition('.')[2]}"


def _not_a_worker_module(module: str) -> tuple[str, str] | None:
    """(why `module` is not a worker module, what to do), or None if it is one."""
    config = apps.get_containing_app_config(module)
    if config is None:
        return (f"{module} is not part of an installed app",
                f"Move it into a module of an installed app's {WORKERS_PACKAGE} package, or install its app.")
    package = f"{config.name}.{WORKERS_PACKAGE}"
    inside = module[len(config.name) + 1:].split(".") if module != config.name else []
    if inside[:1] != [WORKERS_PACKAGE]:
        target = f"{package}.{inside[-1] if inside else 'tasks'}"
        return (f"{module} is not in {package}",
                f"Move it into {target} (a module of the {WORKERS_PACKAGE} package; create the package with an "
                f"__init__.py); `manage.py gearman_worker -a {config.label}` then serves it.")
    if len(inside) == 1:
        return (f"it is in {package} itself, which is not a worker module",
                f"Move it into a module of that package, such as {package}.tasks.")
    if len(inside) > 2:
        return (f"{module} is in a subpackage of {package}, where discovery does not look",
                f"Move it into a module directly in {package}, such as {package}.{inside[-1]}.")
    return None
