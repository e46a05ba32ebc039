"""Delayed jobs: background jobs kept in the database until their time.

A delayed job is a `StoredJob` whose `due_at` is its time, written in the
current transaction of the database that model is routed to, so it exists
exactly if that transaction commits. Whatever relays stored jobs sends it
once it is due, with its job id as gearmand's unique id:
`manage.py gearman_scheduler` on time, and `gearman_outbox` and workers
between jobs too. Nothing sends it earlier.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from . import outbox, results
from .models import StoredJob
from .protocol import JobRequest


@dataclass(frozen=True)
class DelayedJob:
    """A background job stored until `run_at`; gearmand will know it by `job_id`."""

    job_id: str
    function: str
    run_at: datetime.datetime


def store(request: JobRequest, run_at: datetime.datetime, *, using: str | None = None,
          queued: results.Queued | None = None) -> DelayedJob:
    """Keep `request` (a background job with its id) until `run_at` (aware), in the
    current transaction of `using` (default: where the router sends StoredJob);
    `queued`: its result row, recorded now (queued until a worker takes it).

    A job already stored under the same function and id is that job, waiting: it
    keeps its time, as gearmand keeps one job per unique id.
    """
    using = using or outbox.database()
    if queued is not None:
        results.record_queued([queued])
    row = StoredJob(job_id=request.unique.decode(), function=request.function.decode(), payload=request.data,
                    priority=request.priority, due_at=to_database(run_at))
    StoredJob.objects.using(using).bulk_create([row], ignore_conflicts=True)
    return DelayedJob(row.job_id, row.function, run_at)


def next_stored_due(using: str | None = None) -> datetime.datetime | None:
    """When the next stored job that is not due yet falls due (aware), or None."""
    later = StoredJob.objects.using(using or outbox.database()).filter(due_at__gt=timezone.now())
    due_at = later.order_by("due_at").values_list("due_at", flat=True).first()
    return None if due_at is None else from_database(due_at)


def to_database(moment: datetime.datetime) -> datetime.datetime:
    """An aware datetime as a DateTimeField takes it: naive local time when USE_TZ is off."""
    return moment if settings.USE_TZ else timezone.make_naive(moment)


def from_database(value: datetime.datetime) -> datetime.datetime:
    """A DateTimeField's value as an aware datetime, whatever USE_TZ is."""
    return value if timezone.is_aware(value) else timezone.make_aware(value)
