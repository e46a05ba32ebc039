"""Recipes from the Gearman Cookbook, explained in docs/recipes.md:
`manage.py gearman_worker -a shop -n recipes`. The e-mails they send go
through the mail worker (`manage.py gearman_worker -a shop -n mail -q mail`).
"""

import re
from collections import Counter
from decimal import Decimal

from django.conf import settings

from django_gearman import gearman_task

from .mail import send_email

# The shop's catalogue lives here so that the recipes need no database.
PRODUCTS = {
    "mug": {"name": "Gearman mug", "price": Decimal("9.50"), "stock": 12, "ratings": [5, 4, 5]},
    "shirt": {"name": "Gearman T-shirt", "price": Decimal("19.00"), "stock": 0, "ratings": []},
}


def product(sku):
    try:
        return PRODUCTS[sku]
    except KeyError:
        raise LookupError(f"there is no product {sku!r}") from None


# -- Scatter/gather: unrelated lookups one page needs, run at the same time --


@gearman_task
def price(sku):
    return product(sku)["price"]


@gearman_task
def stock(sku):
    return product(sku)["stock"]


@gearman_task
def rating(sku):
    ratings = product(sku)["ratings"]
    if not ratings:
        raise LookupError(f"{sku} has no ratings yet")
    return round(sum(ratings) / len(ratings), 1)


# -- Map/reduce: the caller splits a text, workers map, the caller reduces --


@gearman_task
def count_words(text):
    """The map step: how often each word occurs in one piece of the text."""
    return dict(Counter(re.findall(r"[\w']+", text.lower())))


# -- Pipeline: every stage hands its output to the next stage and returns --


@gearman_task
def place_order(email, quantities):
    """Stage 1: price the order, then pass it on to invoicing."""
    lines = [(sku, quantity, product(sku)["price"] * quantity) for sku, quantity in sorted(quantities.items())]
    write_invoice.submit_background(email, lines)
    return sum(total for _, _, total in lines)


@gearman_task
def write_invoice(email, lines):
    """Stage 2: write the invoice, then queue it for the mail worker (stage 3)."""
    body = "".join(f"{quantity} x {product(sku)['name']}: {total}\n" for sku, quantity, total in lines)
    body += f"Total: {sum(total for _, _, total in lines)}\n"
    send_email.submit_background(email, "Your Gearman shop order", body)


# -- Log service: `tail -f access.log | gearman -n -f shop.recipes.collect_log` --


def collected_log():
    return settings.SHOP_DATA_DIR / "collected.log"


@gearman_task(raw=True)
def collect_log(line):
    """Appends one log line (raw bytes, as any Gearman client sends them)."""
    path = collected_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as log:
        log.write(line if line.endswith(b"\n") else line + b"\n")


@gearman_task(raw=True)
def grep_log(pattern, *, job):
    """Streams each collected line containing `pattern` to the client as it finds
    it (WORK_DATA), reports progress, warns if nothing was collected yet; returns
    the number of matches."""
    path = collected_log()
    if not path.exists():
        job.send_warning(f"{path} does not exist yet: nothing was collected")
        return b"0"
    lines = path.read_bytes().splitlines(keepends=True)
    matches = 0
    for number, line in enumerate(lines, 1):
        if pattern in line:
            matches += 1
            job.send_data(line)
        job.send_status(number, len(lines))
    return str(matches)
