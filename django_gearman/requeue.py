"""Sending stored jobs again: `manage.py gearman_requeue`, and anything else that
offers it (an admin action).

A stored job (a `JobResult` row) has what it takes to run again: its task,
its payload as it went on the wire, its priority. It goes out as a new
background job with a new job id, whose row links back to the original
(`requeued_from`). Every job is checked before anything is sent: one that
cannot be sent (its task was renamed, its payload no longer verifies) is a
`RequeueError` naming each problem, and nothing goes out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import router

from . import conf, results
from .client import GearmanClient, default_client
from .discovery import discover
from .exceptions import PayloadError, RequeueError
from .models import JobResult
from .protocol import JobHandle
from .registry import QUEUE_FUNCTION_PREFIX, get_task, stores_result


@dataclass(frozen=True)
class Requeued:
    """A stored job, sent again."""

    original: str  # its job id
    job_id: str  # the new job's
    task: str
    function: str  # as sent now (GEARMAN_TASK_PREFIX applied)
    priority: str
    arguments: dict | None  # as stored; None for raw data
    handle: JobHandle


@dataclass(frozen=True)
class _Prepared:
    row: JobResult
    job_id: str  # the new job's
    function: str
    payload: bytes
    stored: bool  # the new job's result is stored: it gets a row


def requeue(job_ids: Iterable[str], *, client: GearmanClient | None = None) -> list[Requeued]:
    """Send the stored jobs `job_ids` again, each as a new background job; RequeueError, and nothing
    sent, if any of them cannot be."""
    client = client or default_client()
    job_ids = list(dict.fromkeys(job_ids))
    rows = JobResult.objects.using(router.db_for_read(JobResult)).in_bulk(job_ids)
    prepared, problems = [], []
    for job_id in job_ids:
        try:
            prepared.append(_prepare(rows.get(job_id), job_id, client))
        except RequeueError as exc:
            problems.append(str(exc))
    if problems:
        raise RequeueError("; ".join(problems) + ". Nothing was sent.")
    return [_send(job, client) for job in prepared]


def _prepare(row: JobResult | None, job_id: str, client: GearmanClient) -> _Prepared:
    if row is None:
        raise RequeueError(f"no stored job {job_id!r}")
    settings = conf.get()
    function = settings.task_prefix + row.task
    new_id = uuid.uuid4().hex  # known before signing: signatures cover it
    if row.task.startswith(QUEUE_FUNCTION_PREFIX):
        _check_django_task(row)
        return _Prepared(row, new_id, function, _reencoded(row, function, new_id, client), settings.store_results)
    task = get_task(row.task)
    if task is None:
        discover()
        task = get_task(row.task)
    if task is None:
        raise RequeueError(f"job {job_id}: no task named {row.task!r} is defined in this project any more "
                           "(renamed or removed?)")
    payload = bytes(row.payload) if task.raw else _reencoded(row, function, new_id, client)
    return _Prepared(row, new_id, function, payload, stores_result(task, settings.store_results))


def _check_django_task(row: JobResult) -> None:
    from .backends import InvalidTask, import_task  # Django's tasks framework: only for its jobs

    path = ((row.arguments or {}).get("kwargs") or {}).get("task")
    try:
        import_task(path if isinstance(path, str) else "")
    except InvalidTask as exc:
        raise RequeueError(f"job {row.job_id}: {exc} (renamed or removed?)") from None


def _reencoded(row: JobResult, function: str, job_id: str, client: GearmanClient) -> bytes:
    """The stored request, verified as it was signed (for its function and job id) and signed again
    for the new job."""
    codec = client.payload_codec
    try:
        args, kwargs = codec.decode_request(row.function, row.job_id, bytes(row.payload))
    except PayloadError as exc:
        raise RequeueError(f"job {row.job_id}: its stored payload cannot be read ({exc})") from None
    return codec.encode_request(function, job_id, args, kwargs)


def _send(job: _Prepared, client: GearmanClient) -> Requeued:
    row, job_id = job.row, job.job_id
    if job.stored:  # before sending, with the link, so the worker finds the row
        results.record_queued([results.Queued(job_id, row.task, job.function, job.payload, row.arguments,
                                              row.priority, requeued_from=row.job_id)])
    handle = client.submit_job(row.task, data=job.payload, unique=job_id, priority=row.priority, background=True)
    return Requeued(row.job_id, job_id, row.task, job.function, row.priority, row.arguments, handle)
