"""The scheduler behind `manage.py gearman_scheduler`: periodic runs claimed when due.

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
from django.db import router, transaction
from django.utils import timezone

from . import conf
from .delayed import from_database, store, to_database
from .models import ScheduleState, StoredJob
from .periodic import ScheduleEntry

logger = logging.getLogger("django_gearman.scheduler")


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
    """Claims the due runs of `entries` (default: GEARMAN_SCHEDULE), encoded as `client` encodes jobs."""

    def __init__(self, client, *, entries: Sequence[ScheduleEntry] | None = None, using: str | None = None):
        self.client = client
        self.entries = tuple(conf.get().schedule if entries is None else entries)
        self.using = using or router.db_for_write(ScheduleState)
        stored_jobs = using or router.db_for_write(StoredJob)
        if stored_jobs != self.using:
            raise ImproperlyConfigured(
                f"the database router sends ScheduleState to {self.using!r} and StoredJob to {stored_jobs!r}: a "
                "schedule run is claimed and stored in one transaction, so route both to one database"
            )
        for entry in self.entries:
            self._request(entry, entry.job_id(_now()))  # bad arguments fail here, not at 3 a.m.

    def _request(self, entry: ScheduleEntry, job_id: str):
        try:
            return self.client.background_request(entry.task, args=entry.args, kwargs=entry.kwargs, unique=job_id,
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
        request = self._request(entry, run.job_id)
        next_run_at = entry.next_slot(now)
        with transaction.atomic(using=self.using):
            claimed = ScheduleState.objects.using(self.using).filter(
                name=entry.name, timing=entry.timing, next_run_at=to_database(slot)
            ).update(next_run_at=to_database(next_run_at), last_slot=to_database(slot), last_run_at=to_database(now),
                     last_job_id=run.job_id)
            if not claimed:
                return None, None  # another scheduler's: the next pass reads where it left the entry
            store(request, now, using=self.using)
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
            logger.warning("schedule %s: now %s (was %s in the database); next run %s", entry.name, entry.timing,
                           state.timing, _when(next_run_at))
        return next_run_at if changed else None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)  # aware, whatever USE_TZ is


def _period(entry: ScheduleEntry, slot: datetime.datetime) -> datetime.timedelta:
    """How far `slot` is from the entry's slot after it."""
    return entry.next_slot(slot) - slot


def _when(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"
