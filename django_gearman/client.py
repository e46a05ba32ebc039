"""`GearmanClient`: submit tasks by name from Django code."""

from __future__ import annotations

import threading
from traceback import format_exception
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.signals import setting_changed

from . import conf
from .protocol import Client, GearmanJobFailed, GearmanServerUnavailable, JobHandle, JobRequest, JobStatus
from .serializers import Codec, decode_failure
from .tasks import Task

#: submit_job's own keywords; any other keyword argument goes to the task.
RESERVED_KEYWORDS = frozenset(
    {"data", "args", "kwargs", "unique", "priority", "background", "wait_until_complete", "max_retries", "poll_timeout"}
)


class GearmanClient:
    """Submits jobs to the servers in GEARMAN_CLIENT_SERVERS (or those given).

    One instance may be shared by threads and survives fork(); connections
    are made lazily, per thread and per process.
    """

    def __init__(self, servers: Iterable[str] | None = None):
        settings = conf.get()
        self.settings = settings
        self.servers = tuple(servers) if servers is not None else settings.client_servers
        self.codec = Codec(settings.serializer, settings.signing_key)
        self._client = Client(self.servers)

    def submit_job(
        self,
        task: str | Task,
        data: bytes | str | None = None,
        *,
        args: Iterable | None = None,
        kwargs: Mapping | None = None,
        unique: str | bytes | None = None,
        priority: str | None = None,
        background: bool = False,
        wait_until_complete: bool = True,
        max_retries: int = 0,
        poll_timeout: float | None = None,
        **task_kwargs,
    ) -> Any:
        """Run `task` on a worker.

        Foreground (default): returns the task's return value. Background, or
        `wait_until_complete=False`: returns a `JobHandle` once gearmand has
        the job. `data=` sends bytes verbatim and returns the raw reply.
        """
        request = self._request(task, data, args, kwargs, task_kwargs, unique, priority, background)
        if self.settings.always_eager:
            return self._run_eagerly(request, raw=data is not None)
        timeout = self._timeout(poll_timeout)
        for attempt in range(max_retries + 1):
            self._client.submit_jobs([request], wait=wait_until_complete, timeout=timeout)
            if wait_until_complete and attempt < max_retries and self._retryable(request):
                request = _fresh(request)
                continue
            break
        if not wait_until_complete and not request.background and request.error is None:
            return request.handle
        return self._outcome(request, raw=data is not None)

    def submit_multiple_jobs(
        self,
        jobs: Iterable[Mapping],
        *,
        background: bool = False,
        poll_timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Submit all jobs at once, wait for all, return their results in order.

        Each job is a dict of submit_job's keywords plus "task". A failed job
        raises its error after all jobs finished (the error's `results`
        attribute holds every outcome), or with `return_exceptions=True` its
        exception takes its place in the list.
        """
        requests, raws = [], []
        for job in jobs:
            job = dict(job)
            unknown = set(job) - (RESERVED_KEYWORDS | {"task"}) - {"wait_until_complete", "max_retries"}
            if "task" not in job or unknown:
                raise TypeError(f"each job needs a 'task' and only submit_job's keywords; got {sorted(job)}")
            raws.append(job.get("data") is not None)
            requests.append(self._request(
                job["task"], job.get("data"), job.get("args"), job.get("kwargs"), {},
                job.get("unique"), job.get("priority"), job.get("background", background),
            ))
        self._client.submit_jobs(requests, timeout=self._timeout(poll_timeout))
        results = []
        for request, raw in zip(requests, raws):
            try:
                results.append(self._outcome(request, raw=raw))
            except Exception as exc:
                results.append(exc)
        if not return_exceptions:
            for result in results:
                if isinstance(result, Exception):
                    result.results = results
                    raise result
        return results

    def get_job_status(self, handle: JobHandle | str, *, timeout: float | None = 10.0) -> JobStatus:
        """Progress of a job by its handle (or `str(handle)`), from the server that took it."""
        if self.settings.always_eager:
            return JobStatus(known=False, running=False, numerator=0, denominator=0)  # eager jobs are done
        return self._client.get_job_status(handle, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    # -- helpers ------------------------------------------------------------

    def function_name(self, task: str | Task) -> str:
        name = task.name if isinstance(task, Task) else task
        if not isinstance(name, str) or not name:
            raise TypeError(f"task must be a task name or a Task, not {task!r}")
        return self.settings.task_prefix + name

    def _request(self, task, data, args, kwargs, task_kwargs, unique, priority, background) -> JobRequest:
        if data is not None:
            if args is not None or kwargs is not None or task_kwargs:
                raise TypeError("data= sends raw bytes; it cannot be combined with args, kwargs or task keywords")
            if not isinstance(data, (bytes, str)):
                raise TypeError(f"data= must be bytes or str, not {type(data).__name__}")
            payload = data
        else:
            if isinstance(args, (str, bytes, Mapping)) or (args is not None and not isinstance(args, Iterable)):
                raise TypeError(f"args= must be a list or tuple of positional arguments, not {type(args).__name__}")
            if kwargs is not None and not isinstance(kwargs, Mapping):
                raise TypeError(f"kwargs= must be a dict, not {type(kwargs).__name__}")
            payload = self.codec.encode_request(args or (), {**task_kwargs, **(kwargs or {})})
        return JobRequest(self.function_name(task), payload, unique or b"", priority, bool(background))

    def _timeout(self, poll_timeout: float | None) -> float | None:
        return poll_timeout if poll_timeout is not None else self.settings.default_timeout

    def _run_eagerly(self, request: JobRequest, *, raw: bool) -> Any:
        """GEARMAN_ALWAYS_EAGER: run here, through the same encoding a worker would see."""
        from .registry import discover
        from .tasks import get_task
        from .worker import LocalJob, execute

        name = request.function.decode().removeprefix(self.settings.task_prefix)
        task = get_task(name)
        if task is None:
            discover()
            task = get_task(name)
        if task is None:
            raise GearmanJobFailed(name, f"no task named {name!r} is defined in this process (GEARMAN_ALWAYS_EAGER)")
        job = LocalJob(request)
        try:
            request.result = execute(task, request.data, self.codec, job)
        except Exception as exc:
            raise GearmanJobFailed(
                name, str(exc), exception_type=type(exc).__qualname__, traceback="".join(format_exception(exc))
            ) from exc
        if request.background:
            return job.handle_object
        return request.result if raw else self.codec.decode_result(request.result)

    @staticmethod
    def _retryable(request: JobRequest) -> bool:
        return request.failed or isinstance(request.error, GearmanServerUnavailable)

    def _outcome(self, request: JobRequest, *, raw: bool) -> Any:
        try:
            outcome = request.outcome()
        except GearmanJobFailed as failed:
            report = decode_failure(failed.exception_data if failed.exception_data is not None else (
                failed.warnings[-1] if failed.warnings else None))
            raise GearmanJobFailed(
                failed.task,
                report["message"],
                exception_type=report["type"],
                traceback=report["traceback"],
                handle=failed.handle,
                exception_data=failed.exception_data,
                warnings=failed.warnings,
            ) from None
        if request.background or raw:
            return outcome
        return self.codec.decode_result(outcome)


def _fresh(request: JobRequest) -> JobRequest:
    return JobRequest(request.function, request.data, request.unique, request.priority, request.background)


_default_lock = threading.Lock()
_default_client: GearmanClient | None = None


def default_client() -> GearmanClient:
    """The shared client used by `Task.submit*`, rebuilt when GEARMAN_* settings change."""
    global _default_client
    client = _default_client
    if client is None:
        with _default_lock:
            if _default_client is None:
                _default_client = GearmanClient()
            client = _default_client
    return client


def _reset_default_client(setting: str, **kwargs) -> None:
    global _default_client
    if setting.startswith("GEARMAN_"):
        _default_client = None


setting_changed.connect(_reset_default_client)
