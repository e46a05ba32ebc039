"""`manage.py gearman_scheduler`: --once against a real gearmand, and the errors it starts with."""

import datetime

import pytest
from django.core.management import CommandError
from django.core.management.base import SystemCheckError
from shop.gearman_workers.worker import add
from support.commands import run, run_failing
from support.gearmand import unique_ids

from django_gearman.models import ScheduleState, StoredJob

pytestmark = pytest.mark.django_db


def test_once_stores_the_due_runs_sends_what_is_due_and_says_what_is_left(gearman_settings, settings):
    settings.GEARMAN_SCHEDULE = {"often": {"task": "shop.worker.add", "args": [1, 2], "every": 60}}
    assert run("gearman_scheduler", "--once").startswith("stored 0 schedule run(s)\nsent 0 stored job(s)")
    ScheduleState.objects.update(next_run_at=datetime.datetime(2026, 1, 1, 8, tzinfo=datetime.timezone.utc))
    due = add.submit_background(3, 4, countdown=0)
    later = add.submit_background(5, 6, countdown=3600)

    output = run("gearman_scheduler", "--once")

    assert output == ("stored 1 schedule run(s): often@20260101T080000Z\n"
                      "sent 2 stored job(s); 1 still stored (1 due later)\n")
    assert sorted(unique_ids(gearman_settings)) == sorted(["often@20260101T080000Z", due.job_id])
    assert list(StoredJob.objects.values_list("job_id", flat=True)) == [later.job_id]


def test_once_fails_naming_the_jobs_it_could_not_send(settings, refused_address):
    settings.GEARMAN_SERVERS = [refused_address]
    due = add.submit_background(3, 4, countdown=0)
    output, error = run_failing("gearman_scheduler", "--once")
    assert output == "stored 0 schedule run(s)\nsent 0 stored job(s); 1 still stored (0 due later)\n"
    assert str(error).startswith("1 stored job(s) could not be sent (") and refused_address in str(error)
    assert str(error).endswith(f"job ids {due.job_id}")


def test_an_entry_whose_arguments_cannot_be_sent_stops_it_at_start(settings):
    settings.GEARMAN_SCHEDULE = {"sets": {"task": "shop.worker.echo", "args": [{1, 2}], "every": 60}}
    _, error = run_failing("gearman_scheduler", "--once")
    assert str(error).startswith("GEARMAN_SCHEDULE['sets']: cannot submit it: cannot send a builtins.set")
    assert not ScheduleState.objects.exists()


def test_a_bad_schedule_is_a_system_check_error_naming_the_entry(settings):
    settings.GEARMAN_SCHEDULE = {"nightly": {"task": "shop.worker.add", "cron": "0 25 * * *"}}
    with pytest.raises(SystemCheckError, match=r"django_gearman\.E017.*'nightly'.*Bad hour"):
        run("gearman_scheduler", "--once", skip_checks=False)  # as manage.py runs it
    _, error = run_failing("gearman_scheduler", "--once")  # checks skipped: the same problem, from conf
    assert "GEARMAN_SCHEDULE['nightly']: 'cron' '0 25 * * *' is not a cron expression: Bad hour" in str(error)


def test_bad_options_are_usage_errors():
    with pytest.raises(CommandError, match="--interval: must be more than 0, got 0"):
        run("gearman_scheduler", "--interval", "0")
