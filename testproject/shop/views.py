"""The example project's pages. Anyone can reach a view, so each one bounds what it
lets a visitor start (400 with the reason otherwise), waits for Gearman at most
WAIT seconds, and answers 503 when no server takes or answers the job."""

import functools
import json
from collections import Counter

from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render

from django_gearman import GearmanClient, GearmanJobFailed, GearmanServerUnavailable, GearmanTimeout, JobHandle

from .gearman_workers import recipes
from .gearman_workers.mail import send_email
from .gearman_workers.worker import add, count_to

gearman = GearmanClient()

#: Seconds a view waits for gearmand or a worker before giving up with 503.
WAIT = 10.0
MAX_NUMBER = 10**12
MAX_STEPS = 50  # count_to takes 0.2 s a step
MAX_TEXT = 100_000  # characters of text to count words in
MAX_PIECES = 16
MAX_ORDER_LINES = 20
MAX_FIELD = 2_000  # characters of a contact form field


class BadInput(ValueError):
    """What the visitor sent is not acceptable; the message says why (400)."""


def gearman_view(view):
    """400 for bad input; 503 with the reason when Gearman cannot be reached or does not answer in time."""

    @functools.wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BadInput as exc:
            return HttpResponseBadRequest(str(exc))
        except (GearmanServerUnavailable, GearmanTimeout) as exc:
            response = HttpResponse(f"the job service is not answering, try again later ({exc})", status=503,
                                    content_type="text/plain")
            response["Retry-After"] = "30"
            return response

    return guarded


def whole_number(params, name: str, default: int, low: int, high: int) -> int:
    text = params.get(name, default)
    try:
        number = int(text)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a whole number, not {str(text)[:20]!r}") from None
    if not low <= number <= high:
        raise BadInput(f"{name} must be between {low} and {high}")
    return number


@gearman_view
def add_view(request):
    """A foreground job: the view waits for the worker's answer."""
    a = whole_number(request.GET, "a", 1, -MAX_NUMBER, MAX_NUMBER)
    b = whole_number(request.GET, "b", 2, -MAX_NUMBER, MAX_NUMBER)
    return JsonResponse({"sum": gearman.submit_job(add, args=[a, b], poll_timeout=WAIT)})


@gearman_view
def start_count(request):
    """A background job: the view returns at once with a handle to poll."""
    return JsonResponse({"handle": str(start_counting(request, 5))})


@gearman_view
def count_status(request, handle):
    """Progress of the job whose handle start_count gave out, asked of the server that took it."""
    try:
        status = gearman.get_job_status(JobHandle.from_string(handle), poll_timeout=WAIT)
    except ValueError as exc:  # not a handle, or one of a server this project does not use
        raise BadInput(str(exc)) from None
    return JsonResponse({"known": status.known, "running": status.running,
                         "numerator": status.numerator, "denominator": status.denominator})


@gearman_view
def progress_page(request):
    """A live progress bar: starts count_to in the background; the page polls count_status by handle."""
    return render(request, "shop/progress.html", {"handle": str(start_counting(request, 10))})


def start_counting(request, default_steps: int) -> JobHandle:
    steps = whole_number(request.GET, "steps", default_steps, 1, MAX_STEPS)
    return gearman.submit_job(count_to, args=[steps], background=True, poll_timeout=WAIT)


# -- Gearman Cookbook recipes (docs/recipes.md); the tasks are in gearman_workers/recipes.py --


@gearman_view
def product(request, sku):
    """Scatter/gather: three lookups run at the same time; one that fails leaves a gap, not an error page."""
    if len(sku) > 64:
        raise BadInput("sku must be at most 64 characters")
    price, stock, rating = gearman.submit_multiple_jobs(
        [{"task": lookup, "args": [sku]} for lookup in (recipes.price, recipes.stock, recipes.rating)],
        return_exceptions=True, poll_timeout=WAIT,
    )
    if isinstance(price, GearmanJobFailed):
        raise Http404(price.message)
    if isinstance(price, Exception):
        raise price
    return JsonResponse({
        "sku": sku,
        "price": price,
        "stock": None if isinstance(stock, Exception) else stock,
        "rating": None if isinstance(rating, Exception) else rating,
    })


@gearman_view
def word_frequencies(request):
    """Map/reduce: split the posted text, count the words of every piece on the workers, add the counts up here."""
    pieces = whole_number(request.POST, "pieces", 4, 1, MAX_PIECES)
    top = whole_number(request.POST, "top", 10, 1, 1000)
    text = request.POST.get("text", "")
    if len(text) > MAX_TEXT:
        raise BadInput(f"text must be at most {MAX_TEXT} characters")
    lines = text.splitlines()
    chunks = ["\n".join(lines[first::pieces]) for first in range(min(pieces, len(lines)))]
    counts = gearman.submit_multiple_jobs(recipes.count_words, [[chunk] for chunk in chunks], poll_timeout=WAIT)
    total = sum(map(Counter, counts), Counter())
    return JsonResponse({"pieces": len(chunks), "top": total.most_common(top)})


@gearman_view
def place_order(request):
    """Pipeline: queue stage 1 and answer at once; each stage queues the next, the last one e-mails the invoice."""
    try:
        order = json.loads(request.body)
        email, quantities = order["email"], order["items"]
    except (ValueError, TypeError, KeyError):
        raise BadInput('expected JSON {"email": "...", "items": {"sku": quantity, ...}}') from None
    if not isinstance(email, str) or "@" not in email or len(email) > 254:
        raise BadInput("email must be an e-mail address")
    if not isinstance(quantities, dict) or not 1 <= len(quantities) <= MAX_ORDER_LINES:
        raise BadInput(f"items must map 1 to {MAX_ORDER_LINES} products to quantities")
    for sku, quantity in quantities.items():
        if sku not in recipes.PRODUCTS:
            raise BadInput(f"there is no product {sku[:64]!r}")
        if type(quantity) is not int or not 1 <= quantity <= 100:
            raise BadInput(f"the quantity of {sku} must be a whole number from 1 to 100")
    handle = gearman.submit_job(recipes.place_order, args=[email, quantities], background=True, poll_timeout=WAIT)
    return JsonResponse({"handle": str(handle)}, status=202)


@gearman_view
def contact(request):
    """Delayed e-mail: the mail worker talks to the mail server, not the request."""
    name, message = request.POST.get("name", ""), request.POST.get("message", "")
    if not message:
        raise BadInput("message is required")
    if len(name) > 100 or len(message) > MAX_FIELD:
        raise BadInput(f"name must be at most 100 characters and message at most {MAX_FIELD}")
    gearman.submit_job(send_email, args=["shop@example.com", f"Message from {name or 'a visitor'}", message],
                       background=True, poll_timeout=WAIT)
    return JsonResponse({"queued": True}, status=202)
