"""GEARMAN_SCHEDULE read and checked: slots of cron and every entries, run job ids, system checks."""

import datetime

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from django_gearman import conf
from django_gearman.periodic import ScheduleEntry, entries

UTC = datetime.timezone.utc


def at(*fields, tz=UTC) -> datetime.datetime:
    return datetime.datetime(*fields, tzinfo=tz)


def schedule_errors():
    return [message for message in run_checks() if message.id == "django_gearman.E017"]


def test_every_runs_at_multiples_of_its_seconds_since_the_epoch():
    hourly = ScheduleEntry("hourly", "shop.worker.add", every=3600)
    assert hourly.next_slot(at(2026, 12, 1, 10, 59, 59)) == at(2026, 12, 1, 11, 0)
    assert hourly.next_slot(at(2026, 12, 1, 11, 0)) == at(2026, 12, 1, 12, 0)  # strictly after
    seven = ScheduleEntry("seven", "shop.worker.add", every=7)
    slot = seven.next_slot(at(2026, 12, 1, 10, 0, 0, 500000))
    assert slot.timestamp() % 7 == 0 and 0 < (slot - at(2026, 12, 1, 10, 0)).total_seconds() <= 7


def test_cron_is_read_in_time_zone_and_slots_are_utc(settings):
    settings.TIME_ZONE = "Europe/Paris"
    nightly = ScheduleEntry("nightly", "shop.worker.add", cron="0 3 * * *")
    assert nightly.next_slot(at(2026, 12, 1, 12, 0)) == at(2026, 12, 2, 2, 0)  # 03:00 in Paris, winter
    assert nightly.next_slot(at(2026, 7, 1, 12, 0)) == at(2026, 7, 2, 1, 0)  # summer time
    # Debian cron's rule: a time skipped by the spring change runs right after it, once.
    settings.TIME_ZONE = "America/New_York"
    half_past_two = ScheduleEntry("half_past_two", "shop.worker.add", cron="30 2 * * *")
    assert half_past_two.next_slot(at(2026, 3, 8, 5, 0)) == at(2026, 3, 8, 7, 0)  # 03:00 EDT on the day of the change
    assert half_past_two.next_slot(at(2026, 3, 8, 7, 0)) == at(2026, 3, 9, 6, 30)


def test_six_field_cron_has_seconds_first():
    entry = ScheduleEntry("often", "shop.worker.add", cron="*/10 * * * * *")
    assert entry.next_slot(at(2026, 12, 1, 10, 0, 1)) == at(2026, 12, 1, 10, 0, 10)


def test_a_runs_job_id_names_its_entry_and_slot_in_utc():
    entry = ScheduleEntry("reports.daily", "shop.worker.add", every=60)
    paris = datetime.timezone(datetime.timedelta(hours=1))
    assert entry.job_id(at(2026, 12, 1, 4, 0, tz=paris)) == "reports.daily@20261201T030000Z"
    assert len(ScheduleEntry("n" * 46, "t", every=1).job_id(at(2026, 12, 1))) == 63  # what gearmand keeps


def test_the_setting_becomes_entries(settings):
    settings.GEARMAN_SCHEDULE = {
        "cleanup": {"task": "shop.worker.add", "args": [1, 2], "every": datetime.timedelta(minutes=5)},
        "report": {"task": "shop.mail.daily_report", "kwargs": {"day": "today"}, "cron": "0 6 * * 1-5",
                   "priority": "high"},
    }
    assert schedule_errors() == []
    assert conf.get().schedule == (
        ScheduleEntry("cleanup", "shop.worker.add", (1, 2), {}, every=300),
        ScheduleEntry("report", "shop.mail.daily_report", (), {"day": "today"}, cron="0 6 * * 1-5", priority="high"),
    )
    assert entries(None) == ()


BAD_ENTRIES = [
    (["not", "a", "dict"], "GEARMAN_SCHEDULE must be a dict of entries by name, not list"),
    ({"nightly": "shop.worker.add"}, "GEARMAN_SCHEDULE['nightly'] must be a dict with a 'task'"),
    ({"has space": {"task": "t", "every": 1}}, "GEARMAN_SCHEDULE['has space']: an entry's name is 1 to 46"),
    ({"n" * 47: {"task": "t", "every": 1}}, "an entry's name is 1 to 46 letters"),
    ({"x": {"task": "t", "every": 1, "queue": "q"}}, "unknown keys ['queue']; an entry's keys are ['args', "),
    ({"x": {"every": 1}}, "'task' must be a task name (a string without whitespace), not None"),
    ({"x": {"task": "shop worker", "every": 1}}, "'task' must be a task name"),
    ({"x": {"task": "t"}}, "give either 'cron' (a cron expression) or 'every' (seconds), not neither"),
    ({"x": {"task": "t", "every": 1, "cron": "* * * * *"}}, "not both"),
    ({"x": {"task": "t", "cron": "61 * * * *"}}, "'cron' '61 * * * *' is not a cron expression: Bad minute"),
    ({"x": {"task": "t", "cron": "every day"}}, "is not a cron expression: Wrong number of fields (5 fields:"),
    ({"x": {"task": "t", "cron": 5}}, "'cron' must be a cron expression string"),
    ({"x": {"task": "t", "cron": "0 0 30 2 *"}}, "Bad day-of-month"),
    ({"x": {"task": "t", "every": 0}}, "'every' must be a whole number of seconds, at least 1"),
    ({"x": {"task": "t", "every": 1.5}}, "'every' must be a whole number of seconds"),
    ({"x": {"task": "t", "every": "60"}}, "'every' must be a whole number of seconds"),
    ({"x": {"task": "t", "every": True}}, "'every' must be a whole number of seconds"),
    ({"x": {"task": "t", "every": datetime.timedelta(milliseconds=1500)}}, "'every' must be a whole number"),
    ({"x": {"task": "t", "every": 1, "args": "a"}}, "'args' must be a list of positional arguments, not str"),
    ({"x": {"task": "t", "every": 1, "kwargs": [1]}}, "'kwargs' must be a dict of keyword arguments by name"),
    ({"x": {"task": "t", "every": 1, "priority": "urgent"}}, "'priority' must be one of high, normal, low"),
]


@pytest.mark.parametrize(("setting", "text"), BAD_ENTRIES, ids=[text for _, text in BAD_ENTRIES])
def test_a_bad_schedule_is_an_error_naming_the_entry(settings, setting, text):
    settings.GEARMAN_SCHEDULE = setting
    (error,) = schedule_errors()
    assert text in error.msg
    with pytest.raises(ImproperlyConfigured, match=r"django_gearman\.E017"):
        conf.get()


def test_good_variants_pass(settings):
    settings.GEARMAN_SCHEDULE = {
        "a-b_c.d:e": {"task": "t", "every": 60.0},
        "weekdays": {"task": "t", "cron": "0 9 * * MON-FRI", "args": (1,), "priority": "low"},
        "last_day": {"task": "t", "cron": "0 0 L * *"},
    }
    assert schedule_errors() == []
    settings.GEARMAN_SCHEDULE = {}
    assert schedule_errors() == [] and conf.get().schedule == ()
