"""The scheduler behind `manage.py gearman_scheduler`: periodic runs and delayed jobs, sent on time.

Each pass claims the runs of GEARMAN_SCHEDULE entries that are due, then
sends the stored jobs that are due (delayed jobs, and the runs it just
claimed) as any relayer does.

Claiming a run is one transaction on the database of the app's tables: a
conditional UPDATE moves the entry's `ScheduleState.next_run_at` on from the
slot this scheduler read (`... WHERE name = %s AND next_run_at = %s`), and
the run is stored as a `StoredJob` due now, under its job id (entry and
slot). Two schedulers that read the same slot both try the UPDATE; the
second waits for the first to commit (PostgreSQL's row lock, SQLite's
database lock), then matches no row and stores nothing. A scheduler killed
after the commit has left a stored job that any relayer sends; killed
before it, it has claimed nothing.

Missed slots (no scheduler ran, or one was late past a whole period) are run
once, not once each: a pass that finds an entry's slot passed stores one run
for it and moves `next_run_at` to the first slot after now.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, close_old_connections, router, transaction
from django.utils import timezone

from . import conf
from .delayed import from_database, next_stored_due, store, to_database
from .models import ScheduleState, StoredJob
from .outbox import Relayer
from .periodic import ScheduleEntry
from .stopping import StopSignals

logger = logging.getLogger("django_gearman.scheduler")

#: Seconds between passes when nothing falls due sooner: a delayed job stored
#: while the scheduler waits is sent at most this late.
DEFAULT_INTERVAL = 1.0


@dataclass(frozen=True)
class Run:
    """One run of a schedule entry, claimed and stored by this scheduler."""

    entry: str
    slot: datetime.datetime
    job_id: str


@dataclass
class PassReport:
    """What one pass did, and when the next thing it knows of falls due."""

    runs: list[Run] = field(default_factory=list)
    next_due: datetime.datetime | None = None


class Scheduler:
    """Claims the due runs of `entries` (default: GEARMAN_SCHEDULE) and sends due stored jobs
    through `client`, pass after pass (`serve`), or once (`run_pass`)."""

    def __init__(self, client, *, entries: Sequence[ScheduleEntry] | None = None, using: str | None = None,
                 interval: float = DEFAULT_INTERVAL):
        self.client = client
        self.entries = tuple(conf.get().schedule if entries is None else entries)
        self.using = using or router.db_for_write(ScheduleState)
        stored_jobs = using or router.db_for_write(StoredJob)
        if stored_jobs != self.using:
            raise ImproperlyConfigured(
                f"the database router sends ScheduleState to {self.using!r} and StoredJob to {stored_jobs!r}: a "
                "schedule run is claimed and stored in one transaction, so route both to one database"
            )
        self.interval = interval
        for entry in self.entries:
            self._job(entry, entry.job_id(_now()))  # bad arguments fail here, not at 3 a.m.
        self.relayer = Relayer(client, using=self.using)
        self._trouble: str | None = None
        self._timing_changes: set[tuple[str, str, str]] = set()  # (entry, from, to) logged

    def _job(self, entry: ScheduleEntry, job_id: str):
        """The run's request, and its result-store row if its task stores results."""
        try:
            return self.client.background_job(entry.task, args=entry.args, kwargs=entry.kwargs, unique=job_id,
                                              priority=entry.priority)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"GEARMAN_SCHEDULE[{entry.name!r}]: cannot submit it: {exc}") from None

    # -- one pass ---------------------------------------------------------------------

    def run_pass(self, now: datetime.datetime | None = None) -> PassReport:
        """Claim and store every due run; returns them, and the next slot of any entry."""
        now = now or _now()
        states = self._states(now)
        report = PassReport()
        for entry in self.entries:
            state = states[entry.name]
            if state.timing != entry.timing:
                next_run_at = self._reschedule(entry, state, now)
            elif from_database(state.next_run_at) <= now:
                run, next_run_at = self._claim(entry, from_database(state.next_run_at), now)
                if run is not None:
                    report.runs.append(run)
            else:
                next_run_at = from_database(state.next_run_at)
            if next_run_at is not None and (report.next_due is None or next_run_at < report.next_due):
                report.next_due = next_run_at
        return report

    def _states(self, now: datetime.datetime) -> dict[str, ScheduleState]:
        """Every entry's state; an entry seen for the first time starts at its first slot after now."""
        states = self._stored_states()
        missing = [ScheduleState(name=entry.name, timing=entry.timing, next_run_at=to_database(entry.next_slot(now)))
                   for entry in self.entries if entry.name not in states]
        if missing:
            ScheduleState.objects.using(self.using).bulk_create(missing, ignore_conflicts=True)  # another scheduler may
            states = self._stored_states()
        return states

    def _stored_states(self) -> dict[str, ScheduleState]:
        names = [entry.name for entry in self.entries]
        return {state.name: state for state in ScheduleState.objects.using(self.using).filter(name__in=names)}

    def _claim(self, entry: ScheduleEntry, slot: datetime.datetime,
               now: datetime.datetime) -> tuple[Run | None, datetime.datetime | None]:
        """Store the run for `slot` unless another scheduler did; (the run, the entry's next slot if known)."""
        run = Run(entry.name, slot, entry.job_id(slot))
        request, queued = self._job(entry, run.job_id)
        next_run_at = entry.next_slot(now)
        with transaction.atomic(using=self.using):
            claimed = ScheduleState.objects.using(self.using).filter(
                name=entry.name, timing=entry.timing, next_run_at=to_database(slot)
            ).update(next_run_at=to_database(next_run_at), last_slot=to_database(slot), last_run_at=to_database(now),
                     last_job_id=run.job_id)
            if not claimed:
                return None, None  # another scheduler's: the next pass reads where it left the entry
            store(request, now, using=self.using, queued=queued)
        late = now - slot
        logger.info("schedule %s: stored the run of %s as job %s%s; next run %s", entry.name, _when(slot), run.job_id,
                    f" ({late.total_seconds():.0f} s late: one run for the slots missed)" if late > _period(entry, slot)
                    else "", _when(next_run_at))
        return run, next_run_at

    def _reschedule(self, entry: ScheduleEntry, state: ScheduleState,
                    now: datetime.datetime) -> datetime.datetime | None:
        """The entry's timing changed since its next slot was computed: compute it again."""
        next_run_at = entry.next_slot(now)
        changed = ScheduleState.objects.using(self.using).filter(
            name=entry.name, timing=state.timing, next_run_at=state.next_run_at
        ).update(timing=entry.timing, next_run_at=to_database(next_run_at))
        if changed:
            # Logged once per change: schedulers that disagree about an entry reschedule it in turn.
            first_time = (entry.name, state.timing, entry.timing) not in self._timing_changes
            self._timing_changes.add((entry.name, state.timing, entry.timing))
            logger.log(logging.WARNING if first_time else logging.DEBUG,
                       "schedule %s: now %s (was %s in the database); next run %s", entry.name, entry.timing,
                       state.timing, _when(next_run_at))
        return next_run_at if changed else None

    # -- serving ------------------------------------------------------------------------

    def serve(self) -> None:
        """Pass after pass until SIGTERM/SIGINT: the first finishes the pass under way, a second
        exits at once (a run claimed and not sent yet is sent by the next relayer)."""
        entries = ", ".join(f"{entry.name} ({entry.timing})" for entry in self.entries)
        logger.info("scheduling %s; sending due stored jobs to %s; a pass at least every %g s",
                    entries or "no GEARMAN_SCHEDULE entry", ", ".join(self.client.servers), self.interval)
        with StopSignals(logger) as stop:
            while not stop.stopping:
                stop.wait(self._serve_pass())
        logger.info("scheduler stopped")

    def _serve_pass(self) -> float:
        """Claim, then send what is due; never raises for an unreachable database or server.
        Returns the seconds to wait before the next pass."""
        close_old_connections()  # a scheduler runs for months: CONN_MAX_AGE applies as between requests
        try:
            report = self.run_pass()
        except DatabaseError as exc:
            self._note("database", f"cannot claim schedule runs ({type(exc).__name__}: {exc}); retrying")
            return self.interval
        self._note(None, "claiming schedule runs again")
        self.relayer.relay(drain=True)
        try:
            next_due = min(filter(None, [report.next_due, next_stored_due(self.using)]), default=None)
        except DatabaseError:
            return self.interval
        if next_due is None:
            return self.interval
        return min(self.interval, max(0.0, (next_due - _now()).total_seconds()))

    def _note(self, trouble: str | None, message: str) -> None:
        """Log `message` if the state changes: `trouble` is what goes wrong now (None: nothing)."""
        if trouble != self._trouble and (trouble or self._trouble):
            logger.warning("scheduler: %s", message)
        self._trouble = trouble


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)  # aware, whatever USE_TZ is


def _period(entry: ScheduleEntry, slot: datetime.datetime) -> datetime.timedelta:
    """How far `slot` is from the entry's slot after it."""
    return entry.next_slot(slot) - slot


def _when(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"
