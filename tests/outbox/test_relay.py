"""Relaying stored jobs: claims, retries, due times and `manage.py gearman_outbox --once`,
against a real gearmand."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core.management import CommandError
from django.utils import timezone
from support.commands import run, run_failing
from support.gearmand import unique_ids

from django_gearman import GearmanClient, outbox
from django_gearman.models import StoredJob

#: Every test runs on SQLite and on PostgreSQL (the db_backend fixture).
pytestmark = pytest.mark.usefixtures("db_backend")


def store(count: int, **fields) -> list[str]:
    """`count` stored add jobs (ids "job-0", ...), due now unless `fields` say otherwise."""
    rows = [StoredJob(job_id=f"job-{n}", function="shop.worker.add", payload=json.dumps({"args": [n, n]}).encode(),
                      **fields) for n in range(count)]
    StoredJob.objects.bulk_create(rows)
    return [row.job_id for row in rows]


def in_seconds(seconds: float) -> datetime.datetime:
    return timezone.now() + datetime.timedelta(seconds=seconds)


def relay(**options) -> outbox.RelayReport:
    return outbox.relay(GearmanClient().transport, **options)


def test_a_pass_sends_due_jobs_with_their_ids_and_deletes_them(gearman_settings):
    job_ids = store(3)
    report = relay()
    assert (report.sent, report.failed) == (3, 0)
    assert sorted(unique_ids(gearman_settings)) == job_ids
    assert not StoredJob.objects.exists()


def test_a_pass_takes_at_most_its_limit_oldest_first(gearman_settings):
    job_ids = store(25)
    assert relay(limit=10).sent == 10
    assert sorted(unique_ids(gearman_settings)) == sorted(job_ids[:10])
    assert outbox.relay_due(GearmanClient().transport, limit=10).sent == 15
    assert not StoredJob.objects.exists()


def test_rows_claimed_by_another_relayer_wait_until_its_claim_expires(gearman_settings):
    held, = store(1, claimed_until=in_seconds(60), claimed_by="another-relayer")
    assert relay().sent == 0
    StoredJob.objects.update(claimed_until=in_seconds(-1))  # that relayer died: its claim ran out
    assert relay().sent == 1
    assert unique_ids(gearman_settings) == [held]


def test_jobs_due_later_stay_until_then(gearman_settings):
    store(2, due_at=in_seconds(3600))
    assert relay().sent == 0
    assert outbox.pending() == (0, 2)
    StoredJob.objects.update(due_at=in_seconds(-1))
    assert outbox.pending() == (2, 0)
    assert relay().sent == 2


def test_a_row_that_could_not_be_sent_keeps_its_error_and_waits_before_the_next_try(settings, refused_address):
    settings.GEARMAN_SERVERS = [refused_address]
    job_id, = store(1)
    started = timezone.now()
    report = outbox.relay_due(GearmanClient().transport)
    assert (report.sent, report.failed_ids) == (0, [job_id])
    assert f"cannot connect to gearmand at {refused_address}" in report.errors[0]
    row = StoredJob.objects.get()
    assert (row.attempts, row.claimed_by) == (1, "")
    assert row.last_error == report.errors[0]
    assert row.claimed_until >= started + datetime.timedelta(seconds=outbox.RETRY_SECONDS)
    assert relay().failed == 0  # not tried again before then


def test_gearman_outbox_once_sends_what_is_due_and_says_what_is_left(gearman_settings):
    store(4)
    StoredJob.objects.create(job_id="later", function="shop.worker.add", payload=b"{}", due_at=in_seconds(3600))
    assert run("gearman_outbox", "--once") == "sent 4 stored job(s); 1 still stored (1 due later)\n"
    assert len(unique_ids(gearman_settings)) == 4


def test_gearman_outbox_once_fails_naming_the_jobs_it_could_not_send(settings, refused_address):
    settings.GEARMAN_SERVERS = [refused_address]
    job_ids = store(12)
    output, error = run_failing("gearman_outbox", "--once")
    assert output == "sent 0 stored job(s); 12 still stored (0 due later)\n"
    message = str(error)
    assert message.startswith("12 stored job(s) could not be sent (")
    assert f"cannot connect to gearmand at {refused_address}" in message
    assert message.endswith(f"job ids {', '.join(job_ids[:10])} and 2 more")


def test_gearman_outbox_refuses_bad_options():
    with pytest.raises(CommandError, match="--batch: must be at least 1, got 0"):
        run("gearman_outbox", "--once", "--batch", "0")
