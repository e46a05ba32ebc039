"""The schedule and the stored (delayed) jobs in the Gearman admin section: shown, never edited."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import User
from shop.gearman_workers.worker import add
from support.users import staff_user

from django_gearman import GearmanClient
from django_gearman.models import ScheduleState, StoredJob
from django_gearman.scheduler import Scheduler

SCHEDULE = "/admin/django_gearman/schedulestate/"
STORED = "/admin/django_gearman/storedjob/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client):
    client.force_login(staff_user("viewer", "view_schedulestate", "view_storedjob"))
    return client


@pytest.fixture
def scheduled(settings):
    """Two entries with a state, one of them since removed from the settings, and a run stored."""
    settings.TIME_ZONE = "UTC"
    settings.GEARMAN_SCHEDULE = {
        "nightly": {"task": "shop.worker.add", "args": [1, 2], "kwargs": {"note": "n"}, "cron": "0 3 * * *"},
        "gone": {"task": "shop.worker.echo", "every": 60},
    }
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=3)  # runs stored in the past
    scheduler = Scheduler(GearmanClient(servers=["127.0.0.1:1"]))
    scheduler.run_pass(start)
    scheduler.run_pass(start + datetime.timedelta(days=1))
    settings.GEARMAN_SCHEDULE = {"nightly": settings.GEARMAN_SCHEDULE["nightly"]}
    return settings


def last_run(name: str) -> str:
    return ScheduleState.objects.get(name=name).last_job_id


def test_the_schedule_shows_each_entry_its_next_and_last_run(scheduled, viewer):
    page = viewer.get(SCHEDULE).content.decode()
    assert "nightly" in page and "shop.worker.add" in page and "cron 0 3 * * *" in page
    assert last_run("nightly").endswith("T030000Z") and last_run("nightly") in page
    assert "(no longer in GEARMAN_SCHEDULE)" in page  # "gone"
    detail = viewer.get(f"{SCHEDULE}nightly/change/").content.decode()
    assert "1, 2, note=&#x27;n&#x27;" in detail


def test_stored_jobs_show_what_the_task_will_get_and_when(scheduled, viewer):
    delayed = add.submit_background(5, 6, countdown=3600)
    assert viewer.get(STORED, {"due": "later"}).content.decode().count(delayed.job_id) >= 1
    due_now = viewer.get(STORED, {"due": "now"}).content.decode()
    assert last_run("nightly") in due_now and delayed.job_id not in due_now
    row = StoredJob.objects.get(job_id=delayed.job_id)
    assert "5, 6" in viewer.get(f"{STORED}{row.pk}/change/").content.decode()
    raw = GearmanClient().submit_job("shop.worker.reverse", data=b"\x00\xff", background=True, countdown=60)
    raw_row = StoredJob.objects.get(job_id=raw.job_id)
    raw_page = viewer.get(f"{STORED}{raw_row.pk}/change/").content.decode()
    assert "(not a request this project encodes: 2 bytes)" in raw_page


def test_nothing_can_be_added_changed_or_deleted(scheduled, viewer):
    row = StoredJob.objects.first()
    assert viewer.get(f"{SCHEDULE}add/").status_code == 403
    assert viewer.post(f"{SCHEDULE}nightly/change/", {"next_run_at_0": "2030-01-01"}).status_code == 403
    assert viewer.post(f"{STORED}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (StoredJob.objects.count(), ScheduleState.objects.count()) == (2, 2)


def test_without_the_view_permission_there_is_nothing_to_see(scheduled, client):
    client.force_login(User.objects.create_user("other", password="secret", is_staff=True))
    assert client.get(SCHEDULE).status_code == 403
    assert client.get(STORED).status_code == 403
