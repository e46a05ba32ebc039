"""GEARMAN_SCHEDULE: the periodic jobs, read and checked, and when each falls due.

Every entry runs at *slots*: the times its `cron` expression matches (in
TIME_ZONE, as Debian's cron does across DST changes, by cronsim), or the
multiples of `every` seconds since the Unix epoch (so `"every": 3600` runs on
the hour). A run's job id names its entry and slot, `NAME@20261201T030000Z`,
so every scheduler gives the same run the same id. What the schedulers keep
between passes (each entry's next slot) is `scheduler.py`'s.

No model is imported here: `conf.problems()` validates the setting with it.
"""

from __future__ import annotations

import datetime
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from cronsim import CronSim, CronSimError
from django.utils import timezone

from .protocol.client import MAX_UNIQUE_SIZE

#: The keys an entry may have.
ENTRY_KEYS = frozenset({"task", "args", "kwargs", "cron", "every", "priority"})
PRIORITIES = ("high", "normal", "low")
#: A run's job id is NAME@SLOT, within what gearmand keeps of a unique id.
SLOT_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_NAME_LENGTH = MAX_UNIQUE_SIZE - len("@20261201T030000Z")
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.:-]+")


@dataclass(frozen=True)
class ScheduleEntry:
    """One entry of GEARMAN_SCHEDULE: which task to submit, and when."""

    name: str
    task: str
    args: tuple = ()
    kwargs: Mapping = field(default_factory=dict)
    cron: str | None = None
    every: int | None = None  # seconds
    priority: str = "normal"

    @property
    def timing(self) -> str:
        """When it runs, as text: "cron */5 * * * *" or "every 300 s" (also the state's record of it)."""
        return f"cron {self.cron}" if self.cron is not None else f"every {self.every} s"

    def next_slot(self, after: datetime.datetime) -> datetime.datetime:
        """The first slot strictly after `after` (aware), in UTC."""
        if self.cron is not None:
            local = after.astimezone(timezone.get_default_timezone())
            return next(CronSim(self.cron, local)).astimezone(datetime.timezone.utc)
        assert self.every is not None  # an entry has a cron or an every
        seconds = int(after.timestamp()) // self.every * self.every + self.every
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)

    def job_id(self, slot: datetime.datetime) -> str:
        """The job id of this entry's run for `slot`: the same in every scheduler."""
        return f"{self.name}@{slot.astimezone(datetime.timezone.utc):{SLOT_FORMAT}}"


def entries(setting) -> tuple[ScheduleEntry, ...]:
    """The entries of a GEARMAN_SCHEDULE that `problems()` found nothing wrong with."""
    return tuple(
        ScheduleEntry(name, entry["task"], tuple(entry.get("args", ())), dict(entry.get("kwargs", {})),
                      entry.get("cron"), _seconds(entry.get("every")), entry.get("priority", "normal"))
        for name, entry in (setting or {}).items()
    )


def problems(setting) -> list[str]:
    """What is wrong with a GEARMAN_SCHEDULE value, one message per problem."""
    if setting is None:
        return []
    if not isinstance(setting, Mapping):
        return [f"GEARMAN_SCHEDULE must be a dict of entries by name, not {type(setting).__name__}"]
    found = []
    for name, entry in setting.items():
        where = f"GEARMAN_SCHEDULE[{name!r}]"
        if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            found.append(f"{where}: an entry's name is 1 to {MAX_NAME_LENGTH} letters, digits or . _ : - "
                         "(its runs' job ids are NAME@YYYYMMDDTHHMMSSZ)")
        if not isinstance(entry, Mapping):
            found.append(f"{where} must be a dict with a 'task' and a 'cron' or 'every', not {type(entry).__name__}")
            continue
        found += [f"{where}: {problem}" for problem in _entry_problems(entry)]
    return found


def _entry_problems(entry: Mapping) -> list[str]:
    unknown = sorted(map(str, set(entry) - ENTRY_KEYS))
    if unknown:
        return [f"unknown keys {unknown}; an entry's keys are {sorted(ENTRY_KEYS)}"]
    found = []
    task = entry.get("task")
    if not isinstance(task, str) or not task or any(c.isspace() or c == "\0" for c in task):
        found.append(f"'task' must be a task name (a string without whitespace), not {task!r}")
    args, kwargs = entry.get("args", ()), entry.get("kwargs", {})
    if not isinstance(args, (list, tuple)):
        found.append(f"'args' must be a list of positional arguments, not {type(args).__name__}")
    if not isinstance(kwargs, Mapping) or not all(isinstance(key, str) for key in kwargs):
        found.append(f"'kwargs' must be a dict of keyword arguments by name, not {kwargs!r}")
    if entry.get("priority", "normal") not in PRIORITIES:
        found.append(f"'priority' must be one of {', '.join(PRIORITIES)}, not {entry['priority']!r}")
    if ("cron" in entry) == ("every" in entry):
        found.append("give either 'cron' (a cron expression) or 'every' (seconds), not "
                     + ("both" if "cron" in entry else "neither"))
    elif "cron" in entry:
        problem = _cron_problem(entry["cron"])
        if problem:
            found.append(problem)
    elif _seconds(entry["every"]) is None:
        found.append(f"'every' must be a whole number of seconds, at least 1 (an int or a timedelta), "
                     f"not {entry['every']!r}")
    return found


def _cron_problem(cron) -> str | None:
    if not isinstance(cron, str):
        return f"'cron' must be a cron expression string such as '*/5 * * * *', not {cron!r}"
    try:
        next(CronSim(cron, timezone.now()))
    except CronSimError as exc:
        return (f"'cron' {cron!r} is not a cron expression: {exc} (5 fields: minute hour day-of-month month "
                "day-of-week; or 6, with seconds first)")
    except StopIteration:
        return f"'cron' {cron!r} matches no time in the next 50 years"
    return None


def _seconds(every) -> int | None:
    """`every` as whole seconds (a number or a timedelta), or None if it is not whole or less than 1."""
    if isinstance(every, datetime.timedelta):
        every = every.total_seconds()
    if isinstance(every, bool) or not isinstance(every, numbers.Real):
        return None
    seconds = float(every)
    return int(seconds) if seconds.is_integer() and seconds >= 1 else None
