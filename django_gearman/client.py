"""`GearmanClient`: submit tasks by name from Django code."""

from __future__ import annotations

import datetime
import hashlib
import numbers
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from . import conf
from .exceptions import GearmanError, GearmanJobFailed, PayloadError, UnverifiedFailureReport
from .protocol import JobHandle, JobRequest, JobStatus, ServerAddress, to_bytes
from .protocol.client import new_job_id
from .registry import TaskLike, get_task, stores_result
from .serializers import REQUEST, PayloadCodec
from .transports import GearmandTransport, InProcessTransport, Outcome

if TYPE_CHECKING:
    from .delayed import DelayedJob
    from .results import Queued, StoredResult

#: submit_job's own keywords; any other keyword argument goes to the task.
RESERVED_KEYWORDS = frozenset(
    {"data", "args", "kwargs", "unique", "priority", "background", "wait_until_complete", "max_retries", "poll_timeout",
     "run_at", "countdown"}
)


class _Setup(NamedTuple):
    """What a client derives from the settings it last saw."""

    settings: conf.GearmanSettings
    servers: tuple[str, ...]
    payload_codec: PayloadCodec
    gearmand: GearmandTransport  # kept while its connection settings stay, eager or not: it holds the connections
    transport: GearmandTransport | InProcessTransport  # where jobs run: chosen here, once per settings


class GearmanClient:
    """Submits jobs to the servers in GEARMAN_CLIENT_SERVERS (or those given).

    Settings are read when a job is submitted, so a client made at import time
    follows `override_settings`. One instance may be shared by threads and
    survives fork(); connections are made lazily, per thread and per process.
    """

    def __init__(self, servers: Iterable[str] | None = None):
        self._servers = None if servers is None else tuple(str(ServerAddress.parse(server)) for server in servers)
        if self._servers == ():
            raise ValueError("GearmanClient(servers=...) needs at least one server")
        self._setup_lock = threading.Lock()
        self._current: _Setup | None = None

    def _setup(self) -> _Setup:
        settings = conf.get()
        setup = self._current
        if setup is None or setup.settings is not settings:
            with self._setup_lock:
                setup = self._current
                if setup is None or setup.settings is not settings:
                    servers = self._servers if self._servers is not None else settings.client_servers
                    connection = (servers, settings.submit_timeout, settings.tls, settings.max_payload_size)
                    if setup is not None and (setup.servers, setup.settings.submit_timeout, setup.settings.tls,
                                              setup.settings.max_payload_size) == connection:
                        gearmand = setup.gearmand
                    else:
                        gearmand = GearmandTransport(
                            servers, submit_timeout=settings.submit_timeout,
                            max_payload_size=settings.max_payload_size, **settings.tls_options)
                    payload_codec = PayloadCodec.from_settings(settings)
                    transport = (InProcessTransport(payload_codec, settings.task_prefix, settings.store_results)
                                 if settings.always_eager else gearmand)
                    setup = self._current = _Setup(settings, servers, payload_codec, gearmand, transport)
        return setup

    @property
    def settings(self) -> conf.GearmanSettings:
        return self._setup().settings

    @property
    def servers(self) -> tuple[str, ...]:
        return self._setup().servers

    @property
    def payload_codec(self) -> PayloadCodec:
        return self._setup().payload_codec

    @property
    def transport(self) -> GearmandTransport | InProcessTransport:
        """Where jobs run with the current settings (in this process with GEARMAN_ALWAYS_EAGER)."""
        return self._setup().transport

    def submit_job(
        self,
        task: str | TaskLike,
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
        run_at: datetime.datetime | None = None,
        countdown: float | datetime.timedelta | None = None,
        **task_kwargs,
    ) -> Any:
        """Run `task` on a worker.

        Foreground (default): returns the task's return value. Background, or
        `wait_until_complete=False`: returns a `JobHandle` once gearmand has
        the job. `data=` sends bytes verbatim and returns the raw reply.

        A background job with `run_at=` (an aware datetime) or `countdown=`
        (seconds, or a timedelta) is stored in the database instead and sent
        when due (see `delayed.py`): returns its `DelayedJob`. With
        GEARMAN_ALWAYS_EAGER it runs at once.
        """
        _check_retries(max_retries)
        due = due_time(run_at, countdown)
        if due is not None and not background:
            raise TypeError("run_at= and countdown= delay a background job: add background=True")
        setup = self._setup()
        request = self._request(setup, task, data, args, kwargs, task_kwargs, unique, priority, background)
        if due is not None and not setup.transport.in_process:
            return self._store_delayed(request, due)
        [result] = self._run(setup, [request], [max_retries], [data is not None], wait_until_complete, poll_timeout)
        return self._outcome(result)

    @staticmethod
    def _outcome(result: Any) -> Any:
        """A job's value; the GearmanError it ended with is raised."""
        if isinstance(result, GearmanError):
            raise result
        return result

    def submit_on_commit(
        self,
        task: str | TaskLike,
        data: bytes | str | None = None,
        *,
        args: Iterable | None = None,
        kwargs: Mapping | None = None,
        unique: str | bytes | None = None,
        priority: str | None = None,
        **task_kwargs,
    ) -> str:
        """Queue a background job once the current transaction commits; returns its job id.

        The job is stored (a `StoredJob`) in the transaction of the database
        that model is routed to, so a rollback sends nothing. After the commit
        it is sent and the row deleted; if no server takes it, it stays stored
        and `manage.py gearman_outbox` or a running worker sends it later.
        Nothing is raised for an unreachable server: the failure is logged,
        once, with the job id. With GEARMAN_ALWAYS_EAGER it runs at the commit.
        """
        setup = self._setup()
        request, queued = job = self._request(setup, task, data, args, kwargs, task_kwargs, unique, priority, True)
        from django.db import transaction

        from . import outbox  # its model needs the app registry, which importing this module must not

        if setup.transport.in_process:  # nothing to keep: the job runs at the commit, and raises as submit_job does
            raw = data is not None
            transaction.on_commit(lambda: self._outcome(self._run(self._setup(), [job], [0], [raw], False, None)[0]),
                                  using=outbox.database())
            return request.unique.decode()
        if queued is not None:  # its result row, in the same transaction: queued until a worker takes it
            from . import results

            results.record_queued([queued])
        return outbox.submit_on_commit(setup.transport, request)

    def background_job(self, task: str | TaskLike, *, args: Iterable = (), kwargs: Mapping | None = None,
                       unique: str | None = None, priority: str | None = None) -> tuple[JobRequest, Queued | None]:
        """The background job `submit_job(task, args=..., background=True)` would send, to be stored
        and sent later: its request, and its result-store row if its task stores results."""
        return self._request(self._setup(), task, None, args, kwargs, {}, unique, priority, True)

    def _store_delayed(self, job: tuple[JobRequest, Queued | None], run_at: datetime.datetime) -> DelayedJob:
        """Store a background job until `run_at`, with its result row (queued) if its task stores results."""
        from . import delayed  # it imports the models, which importing this module must not

        request, queued = job
        return delayed.store(request, run_at, queued=queued)

    def submit_multiple_jobs(
        self,
        jobs: Iterable[Mapping] | str | TaskLike,
        argument_lists: Iterable[Iterable] | None = None,
        *,
        background: bool = False,
        priority: str | None = None,
        wait_until_complete: bool = True,
        max_retries: int = 0,
        poll_timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Submit every job at once, wait for all, return their outcomes in order.

        Either job dicts, each a "task" plus submit_job's per-job keywords
        (BATCH_JOB_KEYS)::

            client.submit_multiple_jobs([{"task": "shop.worker.add", "args": [1, 2]},
                                         {"task": "send-email", "kwargs": {...}, "priority": "high"}])

        or one task and a list of argument lists, one job per list, taken as
        `task.submit(*arguments)` would take them::

            client.submit_multiple_jobs("shop.worker.add", [[1, 2], [3, 4]])   # [3, 7]

        The keywords apply to every job (a dict's own keys win). The jobs run at
        the same time on as many workers as are free. A failure loses no other
        result: once all jobs are done the first failure is raised with every
        outcome in its `results` attribute, or, with `return_exceptions=True`,
        each failure's exception takes its place in the list.
        `wait_until_complete=False` returns a JobHandle per job instead.
        """
        _check_retries(max_retries)
        entries = _batch_entries(jobs, argument_lists)
        raws = [entry.get("data") is not None for entry in entries]
        setup = self._setup()
        requests = [
            self._request(setup, entry["task"], entry.get("data"), entry.get("args"), entry.get("kwargs"), {},
                          entry.get("unique"), entry.get("priority", priority), entry.get("background", background))
            for entry in entries
        ]
        retries = [entry.get("max_retries", max_retries) for entry in entries]
        results = self._run(setup, requests, retries, raws, wait_until_complete, poll_timeout)
        failures = [result for result in results if isinstance(result, GearmanError)]
        if failures and not return_exceptions:
            failures[0].results = results
            raise failures[0]
        return results

    @staticmethod
    def _run(setup: _Setup, requests: list[tuple[JobRequest, Queued | None]], retries: list[int], raws: list[bool],
             wait: bool, poll_timeout: float | None) -> list[Any]:
        """Each job's value (its handle if nobody waits for it), or the GearmanError it ended with, in order.

        Jobs whose results are stored get their row before they are sent, and lose it if
        no server took them."""
        timeout = poll_timeout if poll_timeout is not None else setup.settings.default_timeout
        stored = [queued for _, queued in requests if queued is not None]
        if stored:
            from . import results

            results.record_queued(stored)
        jobs = [request for request, _ in requests]
        outcomes = setup.transport.run(jobs, retries, wait=wait, timeout=timeout)
        if stored:
            unsent = [queued.job_id for (request, queued), outcome in zip(requests, outcomes, strict=True)
                      if queued is not None and _never_sent(request, outcome)]
            if unsent:
                results.forget(unsent)
        return [_value(setup.payload_codec, request, outcome, raw)
                for request, outcome, raw in zip(jobs, outcomes, raws, strict=True)]

    def get_result(self, job: str | JobHandle, *, wait: bool = False, timeout: float | None = None) -> StoredResult:
        """What the result store knows about a job, by its job id or `JobHandle`.

        `wait=True` polls the store until the job has finished, up to `timeout` seconds
        (default GEARMAN_DEFAULT_TIMEOUT; GearmanTimeout after that). ResultNotFound if
        the job has no stored result.
        """
        job_id = job.job_id if isinstance(job, JobHandle) else job
        if not isinstance(job_id, str) or not job_id:
            raise ValueError(f"get_result() takes a job id or a JobHandle that has one, not {job!r}")
        from . import results

        if wait:
            return results.wait(job_id, timeout if timeout is not None else self.settings.default_timeout)
        return results.get(job_id)

    def get_job_status(self, handle: JobHandle | str, *, poll_timeout: float | None = 10.0) -> JobStatus:
        """Progress of a job by its handle (or `str(handle)`), from the server that took it."""
        return self.transport.get_job_status(handle, poll_timeout=poll_timeout)

    def close(self) -> None:
        self._setup().gearmand.close()

    # -- helpers ------------------------------------------------------------

    def function_name(self, task: str | TaskLike) -> str:
        return self.settings.task_prefix + _checked_task_name(task)

    @staticmethod
    def _request(setup: _Setup, task, data, args, kwargs, task_kwargs, unique, priority,
                 background) -> tuple[JobRequest, Queued | None]:
        """The job to send, and its result-store row if its task stores results."""
        name = _checked_task_name(task)
        function = setup.settings.task_prefix + name
        if data is not None:
            if args is not None or kwargs is not None or task_kwargs:
                raise TypeError("data= sends raw bytes; it cannot be combined with args, kwargs or task keywords")
            if not isinstance(data, (bytes, str)):
                raise TypeError(f"data= must be bytes or str, not {type(data).__name__}")
            body = to_bytes(data)
        else:
            # Exact types first: the ABC checks cost more than the rest of a small request.
            if type(args) not in _ARGUMENT_LISTS and (
                    isinstance(args, (str, bytes, Mapping)) or (args is not None and not isinstance(args, Iterable))):
                raise TypeError(f"args= must be a list or tuple of positional arguments, not {type(args).__name__}")
            if kwargs is not None and type(kwargs) is not dict and not isinstance(kwargs, Mapping):
                raise TypeError(f"kwargs= must be a dict, not {type(kwargs).__name__}")
            body = setup.payload_codec.request_body(args or (), {**task_kwargs, **kwargs} if kwargs else task_kwargs)
        # The job id is known before the request is signed: signatures cover it.
        if unique is True:  # the arguments are the id: identical submissions in flight run once
            job_id = hashlib.blake2b(body, digest_size=20).hexdigest().encode()
        elif not unique:
            job_id = new_job_id()
        else:
            job_id = to_bytes(unique, "unique id")
        payload = body if data is not None else setup.payload_codec.seal(REQUEST, function, job_id, body)
        request = JobRequest(function.encode(), payload, job_id, priority, bool(background))
        if not stores_result(get_task(name) if isinstance(task, str) else task, setup.settings.store_results):
            return request, None
        from . import results  # only when storing: it imports the models

        arguments = None if data is not None else results.arguments_json(args or (), {**task_kwargs, **(kwargs or {})})
        return request, results.Queued(request.unique.decode("utf-8", "backslashreplace"), name, function,
                                       request.data, arguments, request.priority, reused_id=bool(unique))


#: args= values that need no further check.
_ARGUMENT_LISTS = (tuple, list, type(None))

@dataclass(frozen=True, eq=False)
class SubmittedJob(JobHandle):
    """The `JobHandle` a job submitted from Django gets: it also reads the job's stored result."""

    def result(self, *, wait: bool = False, timeout: float | None = None) -> StoredResult:
        """`get_result(handle, wait=..., timeout=...)`: what the result store knows about this job."""
        return get_result(self, wait=wait, timeout=timeout)


#: The keys a job dict of submit_multiple_jobs may have.
BATCH_JOB_KEYS = frozenset({"task", "data", "args", "kwargs", "unique", "priority", "background", "max_retries"})


def _batch_entries(jobs, argument_lists) -> list[Mapping]:
    """submit_multiple_jobs' two forms as job dicts, checked before anything is sent."""
    if _task_name(jobs) is not None:
        if argument_lists is None:
            raise TypeError("submit_multiple_jobs(task, argument_lists) needs a list of argument lists, one per job")
        if isinstance(argument_lists, (str, bytes, Mapping)) or not isinstance(argument_lists, Iterable):
            raise TypeError(f"argument_lists must be a list of argument lists, not {type(argument_lists).__name__}")
        return [_call_entry(jobs, arguments, number) for number, arguments in enumerate(argument_lists, 1)]
    if argument_lists is not None:
        raise TypeError("argument_lists goes with a single task: submit_multiple_jobs(task, [[...], ...]); "
                        "job dicts carry their own 'args' and 'kwargs'")
    if isinstance(jobs, (bytes, Mapping)) or not isinstance(jobs, Iterable):
        raise TypeError(f"jobs must be a list of job dicts, or a task name, not {type(jobs).__name__}")
    return [_job_entry(job, number) for number, job in enumerate(jobs, 1)]


def _job_entry(job, number: int) -> Mapping:
    if not isinstance(job, Mapping):
        raise TypeError(f"job #{number} must be a dict with a 'task' and submit_job's keywords, "
                        f"not {type(job).__name__}")
    keys = sorted(map(str, job))
    if "task" not in job:
        raise TypeError(f"job #{number} has no 'task' (its keys: {keys})")
    batch_wide = sorted({"wait_until_complete", "poll_timeout"} & set(job))
    if batch_wide:
        raise TypeError(f"job #{number} sets {' and '.join(batch_wide)}, which the whole batch shares: "
                        "pass it to submit_multiple_jobs()")
    unknown = sorted(map(str, set(job) - BATCH_JOB_KEYS))
    if unknown:
        raise TypeError(f"job #{number} has unknown keys {unknown}: task arguments go in 'args' and 'kwargs'; "
                        f"a job's keys are {sorted(BATCH_JOB_KEYS)}")
    if "max_retries" in job:
        _check_retries(job["max_retries"])
    return job


def _call_entry(task: str | TaskLike, arguments, number: int) -> Mapping:
    if isinstance(arguments, (str, bytes, bytearray, Mapping)) or not isinstance(arguments, Iterable):
        raise TypeError(
            f"argument list #{number} must be a list or tuple of positional arguments, not "
            f"{type(arguments).__name__} (one argument per job: [[value] for value in values]; "
            "keyword arguments: use job dicts)"
        )
    arguments = list(arguments)
    if not isinstance(task, str) and task.raw:
        if len(arguments) != 1:
            raise TypeError(f"raw task {task.name} takes exactly one bytes or str argument; "
                            f"argument list #{number} has {len(arguments)}")
        return {"task": task, "data": arguments[0]}
    return {"task": task, "args": arguments}


def _value(payload_codec: PayloadCodec, request: JobRequest, outcome: Outcome, raw: bool) -> Any:
    """A job's decoded return value or failure; a handle, raw reply or other error as it is."""
    if isinstance(outcome, GearmanJobFailed):
        return _failure(payload_codec, request, outcome)
    if isinstance(outcome, JobHandle):
        return SubmittedJob(outcome.handle, outcome.server, outcome.job_id)
    if raw or isinstance(outcome, GearmanError):
        return outcome
    try:
        return payload_codec.decode_result(request.function, request.unique, outcome)
    except PayloadError as exc:  # a reply this side cannot read is that job's outcome; the others keep theirs
        return exc


def _failure(payload_codec: PayloadCodec, request: JobRequest, failed: GearmanJobFailed) -> GearmanJobFailed:
    """The failure as the worker's report describes it (believed under a signing key only if signed for this job)."""
    report = failed.exception_data if failed.exception_data is not None else (
        failed.warnings[-1] if failed.warnings else None)
    if report is None:  # a bare WORK_FAIL, or a failure this side made: there is nothing to read
        return failed
    try:
        error = payload_codec.decode_failure(request.function, request.unique, report)
    except PayloadError as exc:
        return UnverifiedFailureReport(failed.task, str(exc), handle=failed.handle,
                                       exception_data=failed.exception_data, warnings=failed.warnings)
    decoded = GearmanJobFailed(failed.task, error.message, exception_type=error.type, traceback=error.traceback,
                               handle=failed.handle, exception_data=failed.exception_data, warnings=failed.warnings)
    decoded.__cause__ = failed.__cause__  # in eager mode, the task's own exception
    return decoded


def _never_sent(request: JobRequest, outcome: Outcome) -> bool:
    """No server took the job, and no worker ran it here (eager mode: no such task)."""
    return isinstance(outcome, GearmanError) and request.handle is None and getattr(outcome, "handle", None) is None


def get_result(job: str | JobHandle, *, wait: bool = False, timeout: float | None = None) -> StoredResult:
    """`default_client().get_result(...)`: a job's stored result, by job id or `JobHandle`."""
    return default_client().get_result(job, wait=wait, timeout=timeout)


def _checked_task_name(task) -> str:
    name = _task_name(task)
    if not name:
        raise TypeError(f"task must be a task name or a Task, not {task!r}")
    return name


def _task_name(task) -> str | None:
    """A task name as given, or a Task's (anything with a string `.name` and a `.raw`); else None."""
    if isinstance(task, str):
        return task
    name = getattr(task, "name", None)
    return name if isinstance(name, str) and hasattr(task, "raw") else None


def due_time(run_at, countdown) -> datetime.datetime | None:
    """When a job given `run_at=` or `countdown=` is due (aware), or None for neither."""
    if run_at is not None and countdown is not None:
        raise TypeError("give run_at= or countdown=, not both")
    if countdown is not None:
        seconds = countdown.total_seconds() if isinstance(countdown, datetime.timedelta) else countdown
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not float(seconds) >= 0:
            raise ValueError(f"countdown= must be a number of seconds >= 0 or a timedelta, not {countdown!r}")
        return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(seconds))
    if run_at is not None:
        if not isinstance(run_at, datetime.datetime):
            raise TypeError(f"run_at= must be a datetime, not {type(run_at).__name__}")
        if run_at.utcoffset() is None:
            raise ValueError("run_at= must be an aware datetime (with a tzinfo, such as timezone.now() + "
                             f"timedelta(...)), not the naive {run_at!r}, which names no single moment")
    return run_at


def _check_retries(max_retries) -> None:
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(f"max_retries must be a whole number >= 0, not {max_retries!r}")


_default_lock = threading.Lock()
_default_client: GearmanClient | None = None


def default_client() -> GearmanClient:
    """The shared client used by `Task.submit*` (it follows settings changes itself)."""
    global _default_client
    if _default_client is None:
        with _default_lock:
            if _default_client is None:
                _default_client = GearmanClient()
    return _default_client
