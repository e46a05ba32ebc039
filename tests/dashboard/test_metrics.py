"""The Prometheus metrics view, against real gearmand servers and workers in a known state."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from prometheus_client.parser import text_string_to_metric_families
from support.commands import HOLD, PREFIX, UNSERVED

METRICS = "/metrics"
TOKEN = "scraper-token-0123456789"

pytestmark = pytest.mark.django_db


def samples(response) -> dict[tuple, float]:
    """{(sample name, (label, value), ...): value} of a text-format response."""
    text = response.content.decode()
    return {(sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def staff(*permissions: str) -> User:
    user = User.objects.create_user("ops", password="secret", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=permissions))
    return user


def test_server_and_function_gauges_of_a_known_state(busy_server, refused_address, settings, client):
    settings.GEARMAN_SERVERS = [busy_server.gearmand.address, refused_address]
    client.force_login(staff("view_server"))

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
    user = staff()
    client.force_login(user)
    assert client.get(METRICS).status_code == 401
    user.user_permissions.set(Permission.objects.filter(codename="view_server"))
    assert client.get(METRICS).status_code == 200
    user.is_staff = False
    user.save()
    assert client.get(METRICS).status_code == 401
