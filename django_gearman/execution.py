"""Running one job: decode its request, call the task, encode its reply.

The worker runtime (`worker.py`) and the in-process transport of
GEARMAN_ALWAYS_EAGER (`transports.py`) both run jobs through `execute`, so a
task sees the same arguments, and its caller the same reply, either way. It
raises what the task raised; each caller reports a failure its own way.

Around each call it does what every run of a task must: attempts and their
retries (`@gearman_task(retries=...)`), the time limit, and the result store.
A `Runtime` says how, where it runs: a worker sleeps out a retry's backoff
and enforces time limits; eager mode does neither.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from .exceptions import GearmanTaskTimeout, PayloadError
from .protocol import Job, JobRequest, to_bytes
from .registry import TaskLike, stores_result
from .serializers import PayloadCodec

logger = logging.getLogger("django_gearman.execution")

#: The longest wait before a retry, whatever retry_backoff and the attempt say.
RETRY_BACKOFF_CAP = 300.0
#: gearmand's own time limit for a job (CAN_DO_TIMEOUT) is the longest the worker may
#: take with every attempt and backoff, plus this: it steps in only for a stuck worker.
GEARMAND_TIMEOUT_GRACE = 30.0
_NO_LIMIT = nullcontext()


@dataclass(frozen=True)
class Runtime:
    """How `execute` runs jobs where it runs them."""

    worker_id: str  # recorded with each attempt
    store_results: bool  # GEARMAN_STORE_RESULTS
    task_timeout: float | None  # GEARMAN_TASK_TIMEOUT: for tasks without their own timeout
    time_limits: bool  # enforce them (SIGALRM: a worker's main thread only)
    wait: Callable[[float], None]  # how a retry's backoff passes
    notify: Callable[..., None]  # notify("task_retried", sender=task, job=job, ...): the worker's hooks


def eager_runtime(store_results: bool) -> Runtime:
    """GEARMAN_ALWAYS_EAGER: retries follow at once, no time limit, no hooks."""
    return Runtime(worker_id=f"eager:{socket.gethostname()}:{os.getpid()}", store_results=store_results,
                   task_timeout=None, time_limits=False, wait=_no_wait, notify=_no_hooks)


def execute(task: TaskLike, job: Job | LocalJob, payload_codec: PayloadCodec, runtime: Runtime) -> tuple[Any, bytes]:
    """Run `task` for `job`: the task's return value, and the reply bytes that carry it."""
    record = _result_record(task, job, payload_codec, runtime)
    limit = time_limit_of(task, runtime.task_timeout) if runtime.time_limits else None
    attempt = 0
    while True:
        attempt += 1
        if record:
            record.attempt()
        try:
            with time_limit(limit, task.name) if limit is not None else _NO_LIMIT:
                value = _call(task, job, payload_codec)
            break
        except Exception as exc:
            delay = retry_delay(task, attempt, exc)
            if delay is None:
                if record:
                    record.failed(exc)
                raise
            logger.warning("task %s (job %s) attempt %d of %d failed (%s: %s); retrying in %.1f s", task.name,
                           _job_label(job), attempt, task.retries + 1, type(exc).__name__, exc, delay)
            if record:
                record.retrying(exc)
            runtime.notify("task_retried", sender=task, job=job, exception=exc, attempt=attempt, delay=delay)
            runtime.wait(delay)
    try:
        reply = _encode(task, job, payload_codec, value)
    except Exception as exc:  # a return value that cannot be sent: another attempt would not help
        if record:
            record.failed(exc)
        raise
    if record:
        record.succeeded(value)
    return value, reply


def retry_delay(task: TaskLike, attempt: int, exc: Exception) -> float | None:
    """Seconds to wait before retrying after failed `attempt` (1 for the first), or None: no retry.

    `retry_backoff` doubles with each retry, capped at RETRY_BACKOFF_CAP, and is
    then drawn between half of that and all of it, so jobs that failed together
    do not all come back together. A payload that cannot be read is not retried.
    """
    if attempt > task.retries or isinstance(exc, PayloadError) or not isinstance(exc, task.retry_on):
        return None
    longest = _backoff(task, attempt)
    return random.uniform(longest / 2, longest)


def time_limit_of(task: TaskLike, default: float | None) -> float | None:
    """A task's time limit in seconds: its own `timeout`, else GEARMAN_TASK_TIMEOUT's value."""
    return task.timeout if task.timeout is not None else default


def gearmand_timeout_ms(task: TaskLike, default: float | None) -> int | None:
    """The CAN_DO_TIMEOUT to register a task with (gearmand 1.1 reads milliseconds), or None.

    When it runs out gearmand hands the job to another worker (it does not fail
    it), so it covers every attempt with its time limit and the longest backoffs,
    plus GEARMAND_TIMEOUT_GRACE: only a worker that stopped responding reaches it.
    """
    limit = time_limit_of(task, default)
    if limit is None:
        return None
    longest = limit * (task.retries + 1) + sum(_backoff(task, attempt) for attempt in range(1, task.retries + 1))
    return int((longest + GEARMAND_TIMEOUT_GRACE) * 1000)


@contextmanager
def time_limit(seconds: float, task_name: str) -> Iterator[None]:
    """Raise GearmanTaskTimeout in this (main) thread if the block runs longer than `seconds`.

    SIGALRM interrupts Python code and blocking system calls (sleep, socket reads)
    alike, as rq's worker does; C code that never returns to Python is beyond it,
    which is what gearmand's own time limit is for.
    """
    def expired(signum, frame):
        raise GearmanTaskTimeout(f"task {task_name} did not finish within its time limit of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _backoff(task: TaskLike, attempt: int) -> float:
    return min(RETRY_BACKOFF_CAP, task.retry_backoff * 2 ** (attempt - 1))


def _call(task: TaskLike, job: Job | LocalJob, payload_codec: PayloadCodec) -> Any:
    if task.raw:
        return task.func(job.data, job=job) if task.takes_job else task.func(job.data)
    args, kwargs = payload_codec.decode_request(job.function, job.unique, job.data)
    if task.takes_job:
        if "job" in kwargs:
            raise PayloadError(f"task {task.name} receives the running job as `job`; a caller cannot pass `job`")
        kwargs["job"] = job
    return task.func(*args, **kwargs)


def _encode(task: TaskLike, job: Job | LocalJob, payload_codec: PayloadCodec, value: Any) -> bytes:
    if task.raw:
        return to_bytes(value, f"the return value of raw task {task.name}")
    return payload_codec.encode_result(job.function, job.unique, value)


def _result_record(task: TaskLike, job: Job | LocalJob, payload_codec: PayloadCodec, runtime: Runtime):
    """The job's `results.ResultRecord`, or None if its result is not stored (or it has no id to store it by)."""
    if not stores_result(task, runtime.store_results):
        return None
    if not job.unique:
        logger.debug("job %s has no job id (unique); its result is not stored", _job_label(job))
        return None
    from . import results  # only when storing: it imports the models

    def arguments():
        if task.raw:
            return None
        try:
            return results.arguments_json(*payload_codec.decode_request(job.function, job.unique, job.data))
        except PayloadError:
            return None

    return results.ResultRecord(
        job.unique.decode("utf-8", "backslashreplace"), task.name, job.function.decode("utf-8", "replace"), job.data,
        f"{job.handle.decode('latin-1')}@{job.server}", runtime.worker_id, arguments,
    )


def _job_label(job: Job | LocalJob) -> str:
    return job.handle.decode("latin-1")


def _no_wait(seconds: float) -> None:
    pass


def _no_hooks(name: str, **arguments) -> None:
    pass


class LocalJob:
    """The job a task gets when it runs in this process (GEARMAN_ALWAYS_EAGER): a
    `protocol.Job`'s attributes, with what the task reports kept in lists."""

    server = "eager"

    def __init__(self, request: JobRequest):
        self.handle = f"eager:{uuid.uuid4().hex}".encode()
        self.function = request.function
        self.unique = request.unique
        self.data = request.data
        self.statuses: list[tuple[int, int]] = []
        self.data_chunks: list[bytes] = []
        self.warnings: list[bytes] = []

    def send_status(self, numerator: int, denominator: int) -> None:
        self.statuses.append((int(numerator), int(denominator)))

    def send_data(self, data: bytes | str) -> None:
        self.data_chunks.append(to_bytes(data))

    def send_warning(self, data: bytes | str) -> None:
        self.warnings.append(to_bytes(data))
