"""testproject's views face anyone who can reach the site: bounded inputs (400 with the
reason), a clear 503 when no server answers, and a deadline on every wait for Gearman."""

from __future__ import annotations

import json

import pytest
from shop import views
from support.gearmand import total_jobs

ORDER = "/recipes/orders/"


def post_json(client, path, value):
    return client.post(path, json.dumps(value), content_type="application/json")


BAD_REQUESTS = [
    (lambda client: client.get("/add/", {"a": "two"}), b"a must be a whole number, not 'two'"),
    (lambda client: client.get("/add/", {"b": 10**13}), b"b must be between -1000000000000 and 1000000000000"),
    (lambda client: client.get("/count/", {"steps": 0}), b"steps must be between 1 and 50"),
    (lambda client: client.get("/progress/", {"steps": 10**6}), b"steps must be between 1 and 50"),
    (lambda client: client.get("/recipes/product/" + "x" * 65 + "/"), b"sku must be at most 64 characters"),
    (lambda client: client.post("/recipes/words/", {"pieces": 17}), b"pieces must be between 1 and 16"),
    (lambda client: client.post("/recipes/words/", {"top": -1}), b"top must be between 1 and 1000"),
    (lambda client: client.post("/recipes/words/", {"text": "w " * 50_001}),
     b"text must be at most 100000 characters"),
    (lambda client: post_json(client, ORDER, {"email": 5, "items": {"mug": 1}}), b"email must be an e-mail address"),
    (lambda client: post_json(client, ORDER, {"email": "a@b.c", "items": {}}),
     b"items must map 1 to 20 products to quantities"),
    (lambda client: post_json(client, ORDER, {"email": "a@b.c", "items": {"teapot": 1}}),
     b"there is no product 'teapot'"),
    (lambda client: post_json(client, ORDER, {"email": "a@b.c", "items": {"mug": 10**9}}),
     b"the quantity of mug must be a whole number from 1 to 100"),
    (lambda client: post_json(client, ORDER, {"email": "a@b.c", "items": {"mug": "1"}}),
     b"the quantity of mug must be a whole number from 1 to 100"),
    (lambda client: client.post("/recipes/contact/", {"message": "m" * 2001}),
     b"name must be at most 100 characters and message at most 2000"),
]


@pytest.mark.parametrize(("send", "reason"), BAD_REQUESTS, ids=[case[1].decode()[:40] for case in BAD_REQUESTS])
def test_bad_input_is_a_400_saying_why_and_starts_no_job(gearman_settings, client, send, reason):
    response = send(client)
    assert (response.status_code, response.content) == (400, reason)
    for function in ("shop.worker.add", "shop.worker.count_to", "shop.recipes.count_words",
                     "shop.recipes.place_order", "send-email"):
        assert total_jobs(gearman_settings, function) == 0


@pytest.fixture
def short_wait(monkeypatch):
    monkeypatch.setattr(views, "WAIT", 0.5)


@pytest.mark.parametrize("path", ["/add/", "/count/", "/progress/", "/recipes/product/mug/"])
def test_no_reachable_server_is_a_503_saying_so(settings, refused_address, client, path):
    settings.GEARMAN_SERVERS = [refused_address]
    response = client.get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.content.startswith(b"the job service is not answering, try again later (")
    assert refused_address.encode() in response.content


def test_a_server_that_never_answers_is_a_503_after_the_wait(settings, silent_server, client, short_wait):
    settings.GEARMAN_SERVERS = [silent_server]
    for response in (client.get("/add/"), client.post("/recipes/contact/", {"message": "hi"}),
                     client.get("/count/H:x:1@" + silent_server + "/")):
        assert response.status_code == 503, response.content


def test_a_foreground_job_nobody_serves_is_a_503_after_the_wait(gearman_settings, client, short_wait):
    """gearmand takes the job, no worker runs it: the view stops waiting instead of hanging."""
    response = client.get("/add/", {"a": 1, "b": 2})
    assert response.status_code == 503
    assert b"0.5" in response.content


