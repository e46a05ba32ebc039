"""The `@gearman_task` decorator and the `Task` it returns."""

from __future__ import annotations

import functools
import inspect
import numbers
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from . import conf, registry
from .client import default_client
from .registry import WORKERS_PACKAGE

#: submit_background()'s own keywords: when given, they delay the job.
DELAY_KEYWORDS = frozenset({"run_at", "countdown"})


class Task:
    """A function that can also be run on a Gearman worker.

    Calling it runs it here; `submit()` runs it on a worker and returns the
    result; `submit_background()` queues it and returns a `JobHandle`.
    """

    def __init__(self, func, name: str | None = None, queue: str | None = None, raw: bool = False, *,
                 store_result: bool | None = None, retries: int = 0, retry_backoff: float = 1.0,
                 retry_on=(Exception,), timeout: float | None = None):
        functools.update_wrapper(self, func)
        self.func = func
        self.name = default_name(func) if name is None else name
        if not isinstance(self.name, str) or not self.name or any(c.isspace() or c == "\0" for c in self.name):
            raise ImproperlyConfigured(f"invalid Gearman task name {self.name!r} for {_where(func)}")
        self.queue = queue
        self.raw = raw
        self.store_result = store_result
        self.retries = retries
        self.retry_backoff = retry_backoff
        self.retry_on = tuple(retry_on) if isinstance(retry_on, (tuple, list)) else (retry_on,)
        self.timeout = timeout
        problem = _option_problem(self)
        if problem:
            raise ImproperlyConfigured(f"@gearman_task for {_where(func)}: {problem}")
        parameter = inspect.signature(func).parameters.get("job")
        self.takes_job = parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args, **kwargs):
        return self.func(*args, **kwargs)

    @property
    def function_name(self) -> str:
        """The name gearmand knows this task by (GEARMAN_TASK_PREFIX applied)."""
        return conf.get().task_prefix + self.name

    @property
    def location(self) -> str:
        return _where(self.func)

    def submit(self, *args, **kwargs) -> Any:
        """Run on a worker and return the result (raises GearmanJobFailed if it raised)."""
        return self._submit(args, kwargs, background=False)

    def submit_background(self, *args, run_at=None, countdown=None, **kwargs):
        """Queue for a worker; returns a `JobHandle` to ask about its progress.

        `run_at=` (an aware datetime) or `countdown=` (seconds, or a timedelta)
        queues it then instead, not before: it is stored in the database until
        due, and this returns its `DelayedJob` (see `GearmanClient.submit_job`).
        """
        if run_at is not None or countdown is not None:
            taken = sorted(DELAY_KEYWORDS & set(inspect.signature(self.func).parameters))
            if taken:
                raise TypeError(f"task {self.name} has a parameter named {' and '.join(taken)}, which "
                                "submit_background() takes as the job's delay; pass the task's argument with "
                                f"default_client().submit_job({self.name!r}, kwargs={{...}}, background=True)")
        return self._submit(args, kwargs, background=True, run_at=run_at, countdown=countdown)

    def submit_on_commit(self, *args, **kwargs) -> str:
        """Queue for a worker once the current database transaction commits; returns the job id.

        The job is stored in that transaction, so it is sent exactly if the
        transaction commits, and kept until a server takes it (see
        `GearmanClient.submit_on_commit`).
        """
        return default_client().submit_on_commit(self, **self._arguments(args, kwargs))

    def _submit(self, args, kwargs, background: bool, **delay):
        return default_client().submit_job(self, **self._arguments(args, kwargs), background=background, **delay)

    def _arguments(self, args, kwargs) -> dict:
        """submit_job's keywords for a call with these arguments."""
        if self.raw:
            if len(args) != 1 or kwargs:
                raise TypeError(f"raw task {self.name} takes exactly one bytes or str argument")
            return {"data": args[0]}
        return {"args": args, "kwargs": kwargs}


def gearman_task(func=None, *, name: str | None = None, queue: str | None = None, raw: bool = False,
                 store_result: bool | None = None, retries: int = 0, retry_backoff: float = 1.0,
                 retry_on=(Exception,), timeout: float | None = None):
    """Make a function a Gearman task; works bare (`@gearman_task`) or called.

    `store_result` keeps its outcome in the result store (default: GEARMAN_STORE_RESULTS);
    `retries` runs a failing job again on the worker, up to that many more times, when
    the exception is one of `retry_on`, after `retry_backoff` seconds doubling each time
    (with jitter, capped); `timeout` interrupts it after that many seconds
    (default: GEARMAN_TASK_TIMEOUT).
    """

    def decorate(function) -> Task:
        task = Task(function, name=name, queue=queue, raw=raw, store_result=store_result, retries=retries,
                    retry_backoff=retry_backoff, retry_on=retry_on, timeout=timeout)
        registry.register(task)
        return task

    if func is None:
        return decorate
    if not callable(func):
        raise TypeError(f"@gearman_task takes keyword arguments only (name=..., queue=..., raw=...), got {func!r}")
    return decorate(func)


def _option_problem(task: Task) -> str | None:
    """What is wrong with a task's options, or None."""
    if task.store_result not in (None, True, False):
        return f"store_result must be True, False or None, not {task.store_result!r}"
    if isinstance(task.retries, bool) or not isinstance(task.retries, int) or task.retries < 0:
        return f"retries must be a whole number >= 0, not {task.retries!r}"
    if isinstance(task.retry_backoff, bool) or not isinstance(task.retry_backoff, numbers.Real) or not (
            task.retry_backoff >= 0):
        return f"retry_backoff must be a number of seconds >= 0, not {task.retry_backoff!r}"
    if not task.retry_on or not all(inspect.isclass(kind) and issubclass(kind, BaseException)
                                    for kind in task.retry_on):
        return f"retry_on must be an exception class or a tuple of them, not {task.retry_on!r}"
    if task.timeout is not None and (isinstance(task.timeout, bool) or not isinstance(task.timeout, numbers.Real)
                                     or not task.timeout > 0):
        return f"timeout must be a positive number of seconds or None, not {task.timeout!r}"
    return None


def default_name(func) -> str:
    """The import path, minus the `gearman_workers` package: `app.worker.function`."""
    module = ".".join(part for part in func.__module__.split(".") if part != WORKERS_PACKAGE)
    return f"{module}.{func.__qualname__}"


def _where(func) -> str:
    code = getattr(func, "__code__", None)
    line = f":{code.co_firstlineno}" if code else ""
    return f"{func.__module__}.{func.__qualname__} ({inspect.getsourcefile(func) or '?'}{line})"
