"""The result store: what became of each job, one `JobResult` row per job id.

Whoever submits a job whose task stores results records it `queued`
(`record_queued`, before it is sent, so the worker always finds the row);
`execution.py` records each attempt (`ResultRecord`) as the job runs, on a
worker or in eager mode. Every write is its own statement on the database that
routing picks for `JobResult`, and a write that fails is logged and forgotten:
the store never changes a job's outcome, and the reply still goes to gearmand.

Only code that stores or reads results imports this module (it imports the
models): a job whose task does not store results costs no query and no import.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.db.models import Count, DurationField, F, Func, Q, Sum, Value
from django.db.models.expressions import TemporalSubtraction
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from .exceptions import GearmanTimeout, ResultNotFound
from .models import JobResult
from .serializers import describe_failure, from_json_value, to_json_value

logger = logging.getLogger("django_gearman.results")

Status = JobResult.Status
FINISHED = (Status.SUCCEEDED, Status.FAILED)


@dataclass(frozen=True)
class StoredError:
    """The error a job's latest failed attempt raised (`type` is None for a foreign worker's failure text)."""

    type: str | None
    message: str
    traceback: str


@dataclass(frozen=True)
class StoredResult:
    """What the result store knows about one job."""

    job_id: str
    task: str  # without GEARMAN_TASK_PREFIX
    function: str  # the Gearman function, prefix included
    status: str  # "queued", "running", "succeeded" or "failed"
    value: Any  # the return value once "succeeded", else None
    error: StoredError | None  # of the latest failed attempt (also while a retry is pending)
    arguments: dict | None  # {"args": [...], "kwargs": {...}} as sent; None for raw data
    attempts: int
    worker_id: str  # the worker of the latest attempt
    handle: str  # gearmand's handle, str(JobHandle), once a worker took the job
    enqueued_at: datetime | None
    started_at: datetime | None
    last_attempted_at: datetime | None
    finished_at: datetime | None
    requeued_from: str  # the job id this one was sent again for, or ""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.status == Status.SUCCEEDED


@dataclass(frozen=True)
class Queued:
    """A job about to be sent whose result is stored."""

    job_id: str
    task: str
    function: str
    payload: bytes
    arguments: Any  # tagged JSON, or None
    priority: str = "normal"
    requeued_from: str = ""
    reused_id: bool = False  # the caller chose the id: an earlier, finished job's row may exist


def arguments_json(args, kwargs) -> Any:
    """A job's arguments as tagged JSON, or None if they have no JSON form (pickle-only values)."""
    try:
        return to_json_value({"args": list(args), "kwargs": dict(kwargs)})
    except (TypeError, ValueError):
        return None


def record_queued(jobs: Iterable[Queued]) -> None:
    """Rows for jobs about to be sent: one INSERT for a whole batch. A caller-chosen id whose
    earlier job finished starts over; one whose job is still in gearmand is left as it is
    (gearmand runs the two as one)."""
    jobs = list(jobs)
    now = timezone.now()
    rows = [JobResult(job_id=job.job_id, task=job.task, function=job.function, status=Status.QUEUED,
                      arguments=job.arguments, payload=job.payload, priority=job.priority, enqueued_at=now,
                      requeued_from=job.requeued_from) for job in jobs]
    reused = [job.job_id for job in jobs if job.reused_id]

    def write(db):
        JobResult.objects.using(db).bulk_create(rows, ignore_conflicts=True)
        if reused:
            JobResult.objects.using(db).filter(pk__in=reused, status__in=FINISHED).update(
                status=Status.QUEUED, enqueued_at=now, started_at=None, last_attempted_at=None, finished_at=None,
                attempts=0, return_value=None, error_type="", error_message="", traceback="", handle="",
            )

    _write("the queueing", ", ".join(row.job_id for row in rows), write)


def forget(job_ids: list[str]) -> None:
    """Remove the rows of jobs that could not be sent: they never existed."""
    _write("the withdrawal", ", ".join(job_ids),
           lambda db: JobResult.objects.using(db).filter(pk__in=job_ids).delete())


class ResultRecord:
    """The row of one job as it runs: `attempt()` before each attempt, then `retrying(exc)`,
    `failed(exc)` or `succeeded(value)`."""

    def __init__(self, job_id: str, task: str, function: str, payload: bytes, handle: str, worker_id: str,
                 arguments: Callable[[], Any]):
        self.job_id = job_id
        self.task = task
        self.function = function
        self.payload = payload
        self.handle = handle
        self.worker_id = worker_id
        self.arguments = arguments  # called only if this worker has to create the row

    def attempt(self) -> None:
        now = timezone.now()

        def write(db):
            rows = JobResult.objects.using(db).filter(pk=self.job_id)
            changes = dict(status=Status.RUNNING, worker_id=self.worker_id, handle=self.handle,
                           started_at=Coalesce(F("started_at"), Value(now)), last_attempted_at=now)
            if rows.update(attempts=F("attempts") + 1, **changes):
                return
            try:  # submitted without a row (its submitter did not store it, or another Gearman client sent it)
                with transaction.atomic(using=db):
                    JobResult.objects.using(db).create(
                        job_id=self.job_id, task=self.task, function=self.function, payload=self.payload,
                        arguments=self.arguments(), attempts=1, **{**changes, "started_at": now},
                    )
            except IntegrityError:  # its submitter's row became visible meanwhile
                rows.update(attempts=F("attempts") + 1, **changes)

        _write("an attempt", self.job_id, write)

    def retrying(self, exc: BaseException) -> None:
        self._update("a failed attempt", status=Status.QUEUED, **_error_fields(exc))

    def failed(self, exc: BaseException) -> None:
        self._update("the failure", status=Status.FAILED, finished_at=timezone.now(), **_error_fields(exc))

    def succeeded(self, value: Any) -> None:
        self._update("the result", status=Status.SUCCEEDED, finished_at=timezone.now(),
                     return_value=_value_json(value, self.task))

    def _update(self, what: str, **changes) -> None:
        _write(what, self.job_id, lambda db: JobResult.objects.using(db).filter(pk=self.job_id).update(**changes))


def get(job_id: str) -> StoredResult:
    """The stored result of a job; ResultNotFound if there is none."""
    db = router.db_for_read(JobResult)
    try:
        row = JobResult.objects.using(db).get(pk=job_id)
    except JobResult.DoesNotExist:
        raise ResultNotFound(
            f"no stored result for job {job_id!r}: its task does not store results (GEARMAN_STORE_RESULTS, "
            "@gearman_task(store_result=True)), it was never sent, or it was pruned"
        ) from None
    return from_row(row)


def for_handle(handle: str) -> StoredResult:
    """The stored result of the latest job a worker took under gearmand's `handle` (`str(JobHandle)`;
    a restarted gearmand hands its handles out again); ResultNotFound if there is none."""
    rows = JobResult.objects.using(router.db_for_read(JobResult)).filter(handle=handle)
    row = rows.order_by(F("last_attempted_at").desc(nulls_last=True)).first()
    if row is None:
        raise ResultNotFound(f"no stored result for a job with the handle {handle!r}")
    return from_row(row)


def wait(job_id: str, timeout: float | None) -> StoredResult:
    """Poll the store until the job has finished. A job without a row is ResultNotFound at once:
    its submitter writes the row before sending, so none will come."""
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = 0.05
    while True:
        stored = get(job_id)
        if stored.finished:
            return stored
        if deadline is not None and time.monotonic() >= deadline:
            raise GearmanTimeout(f"job {job_id} did not finish within {timeout} s (according to the result store)")
        pause = interval if deadline is None else min(interval, max(0.0, deadline - time.monotonic()))
        time.sleep(pause)
        interval = min(interval * 2, 1.0)


def failed(task: str | None = None) -> list[str]:
    """The ids of the failed jobs (of one task) not sent again yet, oldest first."""
    stored = JobResult.objects.using(router.db_for_read(JobResult))
    rows = stored.filter(status=Status.FAILED).exclude(job_id__in=stored.exclude(requeued_from="").values(
        "requeued_from"))
    if task is not None:
        rows = rows.filter(task=task)
    return list(rows.order_by("finished_at").values_list("job_id", flat=True))


@dataclass(frozen=True)
class TaskTotals:
    """What the store holds of one task's jobs, as the metrics count them."""

    task: str
    succeeded: int
    failed: int  # finally, after any retries
    retried: int  # attempts after each job's first: retries, and runs again after a worker was lost
    timed: int  # finished jobs whose last attempt has both times: those the durations describe
    seconds: float  # the run time of those jobs' last attempts, summed
    within: tuple[int, ...]  # how many of those ran at most each of the bounds asked for


class _Elapsed(Func):
    """`end - start`, two datetimes, as a duration. On SQLite it is worked out in SQL from julianday()
    (to about 0.1 ms): Django's own subtraction there calls a Python function for each row and each
    use, which made `task_totals` over 100,000 rows take 5 s instead of 0.5 s."""

    arity = 2
    output_field = DurationField()

    def as_sql(self, compiler, connection, **extra_context):
        return compiler.compile(TemporalSubtraction(*self.get_source_expressions()))

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="CAST(ROUND((julianday(%(expressions)s)) * 86400e6) "
                              "AS INTEGER)", arg_joiner=") - julianday(", **extra_context)  # microseconds


def task_totals(bounds: Sequence[float]) -> list[TaskTotals]:
    """Per task, in one query: its jobs that succeeded, that failed, their retries, and how long the
    attempt that finished each ran (`last_attempted_at` to `finished_at`, both from its worker's clock),
    counted against each of `bounds` (seconds)."""
    timed = Q(status__in=FINISHED, last_attempted_at__isnull=False, finished_at__isnull=False)
    rows = (
        JobResult.objects.using(router.db_for_read(JobResult))
        .alias(duration=_Elapsed("finished_at", "last_attempted_at"))
        .values("task").order_by("task")
        .annotate(
            succeeded=Count("pk", filter=Q(status=Status.SUCCEEDED)),
            failed=Count("pk", filter=Q(status=Status.FAILED)),
            retried=Coalesce(Sum(Greatest(F("attempts") - 1, Value(0))), 0),
            timed=Count("pk", filter=timed),
            seconds=Sum("duration", filter=timed),
            **{f"within_{index}": Count("pk", filter=timed & Q(duration__lte=timedelta(seconds=bound)))
               for index, bound in enumerate(bounds)},
        )
    )
    return [TaskTotals(row["task"], row["succeeded"], row["failed"], row["retried"], row["timed"],
                       row["seconds"].total_seconds() if row["seconds"] is not None else 0.0,
                       tuple(row[f"within_{index}"] for index in range(len(bounds)))) for row in rows]


def prune(ttl: float) -> int:
    """Delete the rows older than `ttl` seconds: finished before then, or unfinished with no sign of
    life since (a job lost with a gearmand that kept no queue). Returns how many were deleted."""
    cutoff = timezone.now() - timedelta(seconds=ttl)
    last_seen = Coalesce("last_attempted_at", "enqueued_at")
    rows = JobResult.objects.using(router.db_for_write(JobResult)).alias(last_seen=last_seen).filter(
        Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, last_seen__lt=cutoff)
    )
    deleted, _ = rows.delete()
    return deleted


def from_row(row: JobResult) -> StoredResult:
    """A `JobResult` row as `get()` reads it: arguments and return value decoded."""
    error = StoredError(row.error_type or None, row.error_message, row.traceback) if (
        row.error_type or row.error_message) else None
    return StoredResult(
        job_id=row.job_id, task=row.task, function=row.function, status=row.status,
        value=from_json_value(row.return_value) if row.status == Status.SUCCEEDED else None, error=error,
        arguments=None if row.arguments is None else from_json_value(row.arguments), attempts=row.attempts,
        worker_id=row.worker_id, handle=row.handle, enqueued_at=row.enqueued_at, started_at=row.started_at,
        last_attempted_at=row.last_attempted_at, finished_at=row.finished_at, requeued_from=row.requeued_from,
    )


def _error_fields(exc: BaseException) -> dict:
    error = describe_failure(exc)
    return {"error_type": error.type, "error_message": error.message, "traceback": error.traceback}


def _value_json(value: Any, task: str) -> Any:
    try:
        return to_json_value(value)
    except (TypeError, ValueError) as exc:
        logger.warning("result store: the return value of %s is stored as its repr (%s)", task, exc)
        return repr(value)


def _write(what: str, job_id: str, write: Callable[[str], Any]) -> None:
    """Run one write on the store's database; a failure is logged, never raised.

    Inside a transaction (eager mode, a submit in an atomic block) the write gets a
    savepoint, so a failed write does not break the caller's transaction."""
    db = router.db_for_write(JobResult)
    try:
        with transaction.atomic(using=db) if connections[db].in_atomic_block else contextlib.nullcontext():
            write(db)
    except Exception as exc:
        logger.error("result store: could not record %s of job %s (%s: %s); the job goes on", what, job_id,
                     type(exc).__name__, exc)
