"""The Prometheus metrics view, against real gearmand servers and workers in a known state."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families
from support.commands import HOLD, PREFIX, UNSERVED
from support.users import staff_user

from django_gearman import GearmanClient, GearmanJobFailed

METRICS = "/metrics"
TOKEN = "scraper-token-0123456789"

pytestmark = pytest.mark.django_db


def samples(response) -> dict[tuple, float]:
    """{(sample name, (label, value), ...): value} of a text-format response."""
    text = response.content.decode()
    return {(sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def test_server_and_function_gauges_of_a_known_state(busy_server, refused_address, settings, client):
    settings.GEARMAN_SERVERS = [busy_server.gearmand.address, refused_address]
    client.force_login(staff_user("ops", "view_server"))

    response = client.get(METRICS)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    found = samples(response)
    server = ("server", busy_server.gearmand.address)
    assert found[("gearman_server_up", server)] == 1
    assert found[("gearman_server_up", ("server", refused_address))] == 0
    for function, (workers, running, queued) in {PREFIX + HOLD: (2, 2, 1), PREFIX + UNSERVED: (0, 0, 3),
                                                  PREFIX + "shop.worker.add": (2, 0, 0)}.items():
        key = (("function", function), server)
        assert found[("gearman_function_workers", *key)] == workers
        assert found[("gearman_function_running_jobs", *key)] == running
        assert found[("gearman_function_queued_jobs", *key)] == queued
    functions = {labels[0][1] for name, *labels in found if name == "gearman_function_workers"}
    assert functions == {*busy_server.worker_functions, PREFIX + UNSERVED}


def test_a_scraper_with_the_token_may_read_them(gearman_settings, settings, client):
    settings.GEARMAN_METRICS_TOKEN = TOKEN

    assert client.get(METRICS, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert client.get(METRICS, headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer", "Bearer ключ-не-тот-0123456789", ""):
        refused = client.get(METRICS, headers={"Authorization": wrong})
        assert refused.status_code == 401, wrong
        assert refused["WWW-Authenticate"] == 'Bearer realm="gearman"'


def test_without_a_token_setting_no_bearer_is_let_in(gearman_settings, client):
    assert client.get(METRICS, headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get(METRICS, headers={"Authorization": "Bearer None"}).status_code == 401


def test_only_staff_with_the_servers_view_permission_may_read_them(gearman_settings, client):
    user = staff_user("ops")
    client.force_login(user)
    assert client.get(METRICS).status_code == 401
    user.user_permissions.set(Permission.objects.filter(codename="view_server"))
    assert client.get(METRICS).status_code == 200
    user.is_staff = False
    user.save()
    assert client.get(METRICS).status_code == 401


def test_task_counters_and_durations_come_from_the_result_store(db_backend, settings, client, tmp_path):
    settings.GEARMAN_STORE_RESULTS = True
    settings.GEARMAN_ALWAYS_EAGER = True  # run here, retries at once: the rows are this test's
    gearman = GearmanClient()
    for number in range(3):
        gearman.submit_job("shop.worker.add", args=[number, number])
    gearman.submit_job("shop.outcomes.sleep", args=[0.3])
    gearman.submit_job("shop.outcomes.flaky", args=[str(tmp_path / "flaky"), 2])  # succeeds at its third attempt
    for error in ("ConnectionError", "ValueError"):  # retried 3 times, then failed; failed at once
        with pytest.raises(GearmanJobFailed):
            gearman.submit_job("shop.outcomes.picky", args=[str(tmp_path / error), error])
    client.force_login(staff_user("ops", "view_server"))
    settings.GEARMAN_SERVERS = ["127.0.0.1:1"]

    found = samples(client.get(METRICS))

    assert found[("gearman_result_store_up",)] == 1
    counted = {name: {key[1][1]: value for key, value in found.items() if key[0] == name}
               for name in ("gearman_task_succeeded_total", "gearman_task_failed_total", "gearman_task_retried_total")}
    assert counted == {
        "gearman_task_succeeded_total": {"shop.worker.add": 3, "shop.outcomes.sleep": 1, "shop.outcomes.flaky": 1,
                                         "shop.outcomes.picky": 0},
        "gearman_task_failed_total": {"shop.worker.add": 0, "shop.outcomes.sleep": 0, "shop.outcomes.flaky": 0,
                                      "shop.outcomes.picky": 2},
        "gearman_task_retried_total": {"shop.worker.add": 0, "shop.outcomes.sleep": 0, "shop.outcomes.flaky": 2,
                                       "shop.outcomes.picky": 3},
    }
    add, sleep, picky = (("task", f"shop.{name}") for name in ("worker.add", "outcomes.sleep", "outcomes.picky"))
    assert found[("gearman_task_duration_seconds_count", add)] == 3
    assert found[("gearman_task_duration_seconds_bucket", ("le", "+Inf"), add)] == 3
    assert found[("gearman_task_duration_seconds_bucket", ("le", "3600.0"), add)] == 3
    assert found[("gearman_task_duration_seconds_count", picky)] == 2  # failures are timed too
    # The sleep's one attempt took 0.3 s at least: above the 0.25 s bucket, within every bucket from 60 s.
    assert found[("gearman_task_duration_seconds_bucket", ("le", "0.25"), sleep)] == 0
    assert found[("gearman_task_duration_seconds_bucket", ("le", "60.0"), sleep)] == 1
    assert 0.3 <= found[("gearman_task_duration_seconds_sum", sleep)] < 60


def test_without_a_readable_result_store_the_servers_are_still_served(gearman_settings, client):
    client.force_login(staff_user("ops", "view_server"))
    with connection.cursor() as cursor:  # as if not migrated yet; the test's transaction puts it back
        cursor.execute("ALTER TABLE django_gearman_jobresult RENAME TO django_gearman_jobresult_away")

    response = client.get(METRICS)

    assert response.status_code == 200
    found = samples(response)
    assert found[("gearman_result_store_up",)] == 0
    assert found[("gearman_server_up", ("server", gearman_settings.address))] == 1
    assert not [name for name, *_ in found if name.startswith("gearman_task_")]
