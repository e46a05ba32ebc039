"""The Gearman admin pages through Django's test client, against real gearmand servers and workers:
what they show is what `gearman_server_info` shows, and who may see it."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from support.commands import HOLD, PREFIX, run
from support.gearmand import wait_status
from support.users import staff_user

from django_gearman import GearmanClient

SERVERS = "/admin/django_gearman/server/"
SERVERS_JSON = "/admin/django_gearman/server/status.json"
JOB = "/admin/django_gearman/joblookup/"
JOB_JSON = "/admin/django_gearman/joblookup/status.json"

pytestmark = pytest.mark.django_db


def embedded_data(response) -> dict:
    """The JSON a page's script draws (json_script "gearman-data")."""
    match = re.search(r'<script id="gearman-data" type="application/json">(.*?)</script>', response.content.decode())
    return json.loads(match.group(1))


def without_pings(document: dict) -> dict:
    return {"servers": [{**server, "ping_seconds": None} for server in document["servers"]]}


@pytest.fixture
def viewer(client):
    """A test client logged in as staff allowed to view the servers and job lookup pages, and nothing else."""
    client.force_login(staff_user("viewer", "view_server", "view_joblookup"))
    return client


def test_servers_page_and_json_show_what_gearman_server_info_prints(busy_server, viewer):
    command = json.loads(run("gearman_server_info", "--json"))
    page = viewer.get(SERVERS)
    polled = viewer.get(SERVERS_JSON)

    assert page.status_code == 200
    assert polled["Content-Type"] == "application/json"
    assert without_pings(embedded_data(page)) == without_pings(polled.json()) == without_pings(command)
    [server] = polled.json()["servers"]
    assert {task["name"]: task["queued_jobs"] for task in server["tasks"]}[PREFIX + HOLD] == 1
    assert polled.json()["servers"][0]["ping_seconds"] > 0


def test_the_filter_is_gearman_server_info_s(busy_server, viewer):
    command = json.loads(run("gearman_server_info", "--json", "wait_for"))

    assert without_pings(embedded_data(viewer.get(SERVERS, {"q": "wait_for"}))) == without_pings(command)
    assert without_pings(viewer.get(SERVERS_JSON, {"q": "wait_for"}).json()) == without_pings(command)
    assert [task["name"] for task in command["servers"][0]["tasks"]] == [PREFIX + HOLD]
    # The page polls with its own filter.
    assert 'data-url="/admin/django_gearman/server/status.json?q=wait_for"' in viewer.get(
        SERVERS, {"q": "wait_for"}).content.decode()


def test_a_server_that_does_not_answer_is_named(gearman_settings, refused_address, settings, viewer):
    settings.GEARMAN_SERVERS = [gearman_settings.address, refused_address]

    up, down = viewer.get(SERVERS_JSON).json()["servers"]

    assert (up["host"], up["error"]) == (gearman_settings.address, None)
    assert down["host"] == refused_address
    assert "Connection refused" in down["error"]


def test_function_names_are_text_not_markup(gearman_settings, viewer):
    name = 'evil<script>document.title="owned"</script>&amp;'
    GearmanClient().submit_job(name, data=b"x", background=True)
    wait_status(gearman_settings, name, queued=1)

    page = viewer.get(SERVERS).content.decode()

    assert "<script>document.title" not in page
    assert "\\u003Cscript\\u003Edocument.title" in page  # in the page's JSON, which its script puts in text nodes
    assert [task["name"] for task in embedded_data(viewer.get(SERVERS))["servers"][0]["tasks"]] == [name]


def test_the_admin_index_lists_the_pages_under_gearman(viewer):
    index = viewer.get("/admin/").content.decode()
    section = viewer.get("/admin/django_gearman/").content.decode()

    for html in (index, section):
        assert 'href="/admin/django_gearman/server/"' in html
        assert 'href="/admin/django_gearman/joblookup/"' in html
    assert ">Gearman<" in index


def test_anonymous_and_non_staff_users_are_sent_to_the_login_page(client, gearman_settings):
    for url in (SERVERS, SERVERS_JSON, JOB, JOB_JSON):
        assert client.get(url).url == f"/admin/login/?next={url}"
    client.force_login(User.objects.create_user("customer", password="secret"))
    for url in (SERVERS, SERVERS_JSON, JOB, JOB_JSON):
        assert client.get(url).url == f"/admin/login/?next={url}"


def test_staff_need_the_view_permission(client, gearman_settings):
    client.force_login(staff_user("clerk"))
    for url in (SERVERS, SERVERS_JSON, JOB, JOB_JSON):
        assert client.get(url).status_code == 403
    assert 'href="/admin/django_gearman/server/"' not in client.get("/admin/").content.decode()


def test_job_lookup_by_handle_shows_gearmand_s_status(gearman_settings, viewer):
    handle = GearmanClient().submit_job("nobody.serves.this", data=b"x", background=True)

    report = viewer.get(JOB_JSON, {"job": str(handle)}).json()
    page = embedded_data(viewer.get(JOB, {"job": str(handle)}))

    assert report == page
    assert report["handle"] == str(handle)
    assert report["status"] == {"known": True, "running": False, "numerator": 0, "denominator": 0}
    assert report["finished"] is False


def test_job_lookup_says_what_is_wrong_with_what_it_was_given(gearman_settings, viewer):
    assert viewer.get(JOB_JSON).json() == {}
    unknown = viewer.get(JOB_JSON, {"job": "H:nowhere:1@127.0.0.1:1"}).json()
    assert unknown["finished"] is True
    assert "not one of this client's servers" in unknown["error"]
    gone = viewer.get(JOB_JSON, {"job": f"H:nowhere:1@{gearman_settings.address}"}).json()
    assert gone["status"]["known"] is False
    assert gone["error"] is None
