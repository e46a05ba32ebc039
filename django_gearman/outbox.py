"""The outbox: background jobs kept in the database until gearmand has them.

`submit_on_commit` stores its job (a `StoredJob`) in the caller's
transaction, so the job exists exactly if the transaction committed. After
the commit this process sends it and deletes the row; if no server takes it,
the row stays and a relayer sends it later: `manage.py gearman_outbox`, or
any running worker between jobs (`relay`).

Claims keep relayers apart: a relayer takes due rows with one conditional
UPDATE that sets `claimed_until` and its own token in `claimed_by`, so two
relayers never send a row at the same time, and a relayer that dies holding
rows loses nothing: its claim expires. A stored row is sent with its job id
as gearmand's unique id, so sending it twice (a relayer killed between
sending and deleting) makes one job while gearmand still holds the first;
after that job has run, it would run again: delivery is at-least-once.
"""

from __future__ import annotations

import datetime
import logging
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from .exceptions import GearmanError
from .models import StoredJob
from .protocol import JobHandle, JobRequest
from .stopping import StopSignals

logger = logging.getLogger("django_gearman.outbox")

#: How long a claim holds, in seconds. Sending a batch is given half of it, so a
#: claim never runs out while its relayer is still sending.
CLAIM_SECONDS = 60.0
#: Rows one relay pass claims and sends together.
BATCH_SIZE = 500
#: Seconds a row that could not be sent waits before a relayer tries it again.
RETRY_SECONDS = 5.0
#: Job ids a log line names before it says how many more there are.
LOGGED_IDS = 10


@dataclass
class RelayReport:
    """What one or more relay passes did."""

    sent: int = 0
    failed_ids: list[str] = field(default_factory=list)  # job ids gearmand did not take
    errors: list[str] = field(default_factory=list)  # the distinct reasons, in order

    @property
    def failed(self) -> int:
        return len(self.failed_ids)

    def add(self, other: RelayReport) -> None:
        self.sent += other.sent
        self.failed_ids += other.failed_ids
        self.errors += [error for error in other.errors if error not in self.errors]


# -- submit_on_commit -------------------------------------------------------------


class _CommitBatch:
    """The jobs one thread stored on one database since it last sent after a commit.

    Each stored job registers an on_commit callback (a savepoint rolled back
    drops its own); the first to run sends every row of the batch that was
    committed, pipelined, and the others find nothing left to do.
    """

    def __init__(self, using: str):
        self.using = using
        self.token = uuid.uuid4().hex
        self.requests: dict[tuple[bytes, bytes], JobRequest] = {}
        self.sent = False

    def send(self, transport) -> None:
        if self.sent:
            return
        self.sent = True
        if _batches.open.get(self.using) is self:
            del _batches.open[self.using]  # jobs stored from now on are the next batch
        try:
            report = self._send_committed(transport)
        except DatabaseError:
            logger.exception("after the commit, stored jobs could not be read or updated (job ids %s); those still "
                             "stored are sent by a relayer once their claim expires",
                             describe_ids(job_id.decode() for _, job_id in self.requests))
            return
        if report.failed:
            logger.warning("%d job(s) submitted on commit could not be sent now (%s): job ids %s; they are stored "
                           "and will be sent by `manage.py gearman_outbox` or a running worker",
                           report.failed, "; ".join(report.errors), describe_ids(report.failed_ids))

    def _send_committed(self, transport) -> RelayReport:
        stored = _stored(self.using).filter(claimed_by=self.token)
        stored.update(claimed_until=_claim_end())  # a claim as long as ever, from now on
        rows = [(pk, _resend(self.requests[function.encode(), job_id.encode()]))
                for pk, function, job_id in stored.values_list("id", "function", "job_id")]
        report = RelayReport()
        for start in range(0, len(rows), BATCH_SIZE):
            report.add(_send(transport, rows[start:start + BATCH_SIZE], self.token, self.using))
        return report


class _Batches(threading.local):
    def __init__(self):
        self.open: dict[str, _CommitBatch] = {}  # by database alias


_batches = _Batches()


def submit_on_commit(transport, request: JobRequest, *, using: str | None = None) -> str:
    """Store `request` (a background job with its job id as unique id) in the current
    transaction of `using` (the database `StoredJob` is routed to), and send it with
    `transport` once that commits. Returns the job id."""
    using = using or database()
    batch = _batches.open.get(using)
    if batch is None:
        batch = _batches.open[using] = _CommitBatch(using)
    # A job already stored under the same (function, id) is that job, in flight: not a second one.
    StoredJob.objects.using(using).bulk_create([_row(request, claimed_by=batch.token)], ignore_conflicts=True)
    batch.requests[request.function, request.unique] = request
    transaction.on_commit(lambda: batch.send(transport), using=using, robust=True)
    return request.unique.decode()


def database() -> str:
    """The database alias of stored jobs (the router's choice for StoredJob): the transaction
    `submit_on_commit` joins, so the data it goes with must be in that database too."""
    return router.db_for_write(StoredJob)


def _resend(request: JobRequest) -> JobRequest:
    """A fresh request for a stored job. Its id is given, not generated, so the client
    places it on one server every time it is sent, which keeps one job there."""
    return JobRequest(request.function, request.data, request.unique, request.priority, True)


def _row(request: JobRequest, **fields) -> StoredJob:
    return StoredJob(job_id=request.unique.decode(), function=request.function.decode(), payload=request.data,
                     priority=request.priority, claimed_until=_claim_end(), **fields)


# -- relaying -------------------------------------------------------------------------


def relay(transport, *, using: str | None = None, limit: int = BATCH_SIZE) -> RelayReport:
    """One pass: claim up to `limit` rows that are due, send them, delete those gearmand took.

    A row that could not be sent gets `attempts` and `last_error` updated and
    is left alone for RETRY_SECONDS.
    """
    return _pass(transport, using or database(), limit, timezone.now())[0]


def relay_due(transport, *, using: str | None = None, limit: int = BATCH_SIZE) -> RelayReport:
    """Pass after pass, until no row that was due when it started is left to claim:
    each has been sent, or tried (a row that failed is tried again after RETRY_SECONDS),
    or is being sent by another relayer."""
    using = using or database()
    report = RelayReport()
    started = timezone.now()
    while True:
        passed, found_due = _pass(transport, using, limit, started)
        report.add(passed)
        if not found_due:
            return report


def _pass(transport, using: str, limit: int, due_by: datetime.datetime) -> tuple[RelayReport, bool]:
    """Claim and send rows due by `due_by`: the report, and whether any were there to claim."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimable = _stored(using).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), due_at__lte=due_by)
    due = claimable.order_by("due_at", "id").values_list("id", flat=True)[:limit]
    if not due.exists():  # a read: most passes find nothing, and need not wait for the write lock
        return RelayReport(), False
    if connections[using].features.has_select_for_update_skip_locked:
        # PostgreSQL: each relayer locks rows no other relayer holds, so they share the work.
        with transaction.atomic(using=using):
            claimable.filter(id__in=list(due.select_for_update(skip_locked=True))).update(
                claimed_until=_claim_end(), claimed_by=token)
    else:
        # One statement, atomic by itself: a row another relayer claimed meanwhile no longer matches.
        claimable.filter(id__in=due).update(claimed_until=_claim_end(), claimed_by=token)
    rows = [(row.id, JobRequest(row.function, bytes(row.payload), row.job_id, row.priority, True))
            for row in _stored(using).filter(claimed_by=token).order_by("due_at", "id")]
    return _send(transport, rows, token, using), True


def pending(using: str | None = None) -> tuple[int, int]:
    """(rows due now, rows due later)."""
    stored = _stored(using or database())
    due = stored.filter(due_at__lte=timezone.now()).count()
    return due, stored.count() - due


def _send(transport, rows: Sequence[tuple[int, JobRequest]], token: str, using: str) -> RelayReport:
    """Send claimed rows as background jobs; delete those gearmand took, release the others."""
    report = RelayReport()
    if not rows:
        return report
    requests = [request for _, request in rows]
    outcomes = transport.run(requests, [0] * len(requests), wait=False, timeout=CLAIM_SECONDS / 2)
    taken: list[int] = []
    failed: dict[str, list[tuple[int, str]]] = {}  # by reason: (row id, job id)
    for (pk, request), outcome in zip(rows, outcomes, strict=True):
        if isinstance(outcome, JobHandle):
            taken.append(pk)
        else:
            failed.setdefault(_reason(outcome), []).append((pk, request.unique.decode()))
    # By id alone: once gearmand has the job, the row goes, whoever holds its claim now.
    _stored(using).filter(id__in=taken).delete()
    retry_at = timezone.now() + datetime.timedelta(seconds=RETRY_SECONDS)
    for reason, jobs in failed.items():
        _stored(using).filter(id__in=[pk for pk, _ in jobs], claimed_by=token).update(
            attempts=F("attempts") + 1, last_error=reason, claimed_until=retry_at, claimed_by="")
        report.failed_ids += [job_id for _, job_id in jobs]
    report.sent = len(taken)
    report.errors = list(failed)
    return report


def _reason(outcome) -> str:
    return str(outcome) if isinstance(outcome, GearmanError) else f"unexpected outcome {outcome!r}"


def _stored(using: str):
    return StoredJob.objects.using(using)


def _claim_end() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=CLAIM_SECONDS)


def describe_ids(job_ids) -> str:
    """Job ids for a log line: the first LOGGED_IDS, and how many more."""
    job_ids = list(job_ids)
    shown = ", ".join(job_ids[:LOGGED_IDS])
    return shown + (f" and {len(job_ids) - LOGGED_IDS} more" if len(job_ids) > LOGGED_IDS else "")


# -- long-running relayers -----------------------------------------------------------


class Relayer:
    """Relays for a process that keeps running (a worker, `gearman_outbox`), sending
    through `client.transport`, and logs once per change of state, not once per pass."""

    def __init__(self, client, *, using: str | None = None, limit: int = BATCH_SIZE):
        self.client = client
        self.using = using
        self.limit = limit
        self._trouble: str | None = None  # "database" or "sending" while passes go wrong

    def relay(self, *, drain: bool = False) -> RelayReport:
        """One pass (`drain`: until nothing due is left, `relay_due`); never raises for
        an unreachable server or database."""
        relay_function = relay_due if drain else relay
        try:
            report = relay_function(self.client.transport, using=self.using, limit=self.limit)
        except DatabaseError as exc:
            self._note("database", f"cannot read the stored jobs ({type(exc).__name__}: {exc}); retrying")
            return RelayReport()
        if report.failed:
            self._note("sending", f"could not send {report.failed} stored job(s) ({'; '.join(report.errors)}): "
                                  f"job ids {describe_ids(report.failed_ids)}; retrying")
        elif report.sent or self._trouble == "database":
            self._note(None, "relaying stored jobs again")
        if report.sent:
            logger.info("sent %d stored job(s)", report.sent)
        return report

    def _note(self, trouble: str | None, message: str) -> None:
        """Log `message` if the state changes: `trouble` is what goes wrong now (None: nothing)."""
        if trouble != self._trouble:
            logger.log(logging.WARNING if trouble or self._trouble else logging.INFO, "outbox: %s", message)
        self._trouble = trouble

    def serve(self, interval: float) -> None:
        """Relay until SIGTERM/SIGINT, waiting `interval` seconds whenever nothing was
        due. The first signal finishes the pass under way; a second exits at once (rows
        claimed and not sent yet wait for their claim to expire)."""
        with StopSignals(logger) as stop:
            logger.info("relaying stored jobs to %s every %g s", ", ".join(self.client.servers), interval)
            while not stop.stopping:
                report = self.relay(drain=True)
                if not report.sent:
                    stop.wait(interval)
