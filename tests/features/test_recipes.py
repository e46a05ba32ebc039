"""The Gearman Cookbook recipes of docs/recipes.md, run through testproject's views."""

from __future__ import annotations

import json

from support.gearmand import wait_status
from support.shop import sent_mail

TEXT = """The cat sat on the mat.
The dog sat on the log.
A cat and a dog, and the cat's hat.
Nobody sat on the hat."""


def test_scatter_gather_page_gathers_concurrent_lookups_and_survives_a_failed_one(serve, client):
    serve("recipes")

    assert client.get("/recipes/product/mug/").json() == {"sku": "mug", "price": "9.50", "stock": 12, "rating": 4.7}
    # The shirt has no ratings: that lookup fails, the page still shows the rest.
    assert client.get("/recipes/product/shirt/").json() == {"sku": "shirt", "price": "19.00", "stock": 0,
                                                            "rating": None}
    assert client.get("/recipes/product/teapot/").status_code == 404


def test_map_reduce_counts_words_piece_by_piece_on_the_workers(serve, client):
    serve("recipes")

    response = client.post("/recipes/words/", {"text": TEXT, "pieces": 3, "top": 100}).json()

    assert response["pieces"] == 3
    assert dict(response["top"]) == {
        "the": 6, "sat": 3, "on": 3, "cat": 2, "dog": 2, "a": 2, "and": 2, "hat": 2,
        "mat": 1, "log": 1, "cat's": 1, "nobody": 1,
    }
    assert response["top"][0] == ["the", 6]


def test_pipeline_stages_hand_the_order_on_until_the_invoice_is_mailed(serve, client, shop_data):
    serve("recipes")
    serve("mail", "-q", "mail")

    order = {"email": "ann@example.com", "items": {"mug": 2, "shirt": 1}}
    response = client.post("/recipes/orders/", json.dumps(order), content_type="application/json")

    assert response.status_code == 202
    mail = sent_mail(shop_data)
    assert "To: ann@example.com" in mail
    assert "2 x Gearman mug: 19.00\n1 x Gearman T-shirt: 19.00\nTotal: 38.00\n" in mail


def test_delayed_email_is_queued_by_the_view_and_sent_by_the_mail_worker(serve, client, gearman_settings, shop_data):
    response = client.post("/recipes/contact/", {"name": "Ann", "message": "Do you ship to Mars?"})

    # The view answered with nobody to send mail: the job waits in gearmand.
    assert response.status_code == 202
    wait_status(gearman_settings, "send-email", queued=1)
    serve("mail", "-q", "mail")
    mail = sent_mail(shop_data)
    assert "Subject: Message from Ann" in mail
    assert "Do you ship to Mars?" in mail


def test_recipe_views_refuse_bad_input_with_a_message(client):
    assert client.post("/recipes/words/", {"text": "a", "pieces": "many"}).content == (
        b"pieces must be a whole number, not 'many'")
    assert client.post("/recipes/words/", {"text": "a", "pieces": 0}).status_code == 400
    assert client.post("/recipes/orders/", "[]", content_type="application/json").status_code == 400
    assert client.post("/recipes/contact/", {"name": "Ann"}).content == b"message is required"
