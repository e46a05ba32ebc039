import json
from collections import Counter

from django.http import Http404, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render

from django_gearman import GearmanClient, GearmanJobFailed, JobHandle

from .gearman_workers import recipes
from .gearman_workers.mail import send_email
from .gearman_workers.worker import add, count_to

gearman = GearmanClient()


def add_view(request):
    """A foreground job: the view waits for the worker's answer."""
    return JsonResponse({"sum": add.submit(int(request.GET.get("a", 1)), int(request.GET.get("b", 2)))})


def start_count(request):
    """A background job: the view returns at once with a handle to poll."""
    handle = count_to.submit_background(int(request.GET.get("steps", 5)))
    return JsonResponse({"handle": str(handle)})


def count_status(request, handle):
    """Progress of the job whose handle start_count gave out, asked of the server that took it."""
    try:
        status = gearman.get_job_status(JobHandle.from_string(handle))
    except ValueError as exc:  # not a handle, or one of a server this project does not use
        return HttpResponseBadRequest(str(exc))
    return JsonResponse({"known": status.known, "running": status.running,
                         "numerator": status.numerator, "denominator": status.denominator})


def progress_page(request):
    """A live progress bar: starts count_to in the background; the page polls count_status by handle."""
    handle = count_to.submit_background(int(request.GET.get("steps", 10)))
    return render(request, "shop/progress.html", {"handle": str(handle)})


# -- Gearman Cookbook recipes (docs/recipes.md); the tasks are in gearman_workers/recipes.py --


def product(request, sku):
    """Scatter/gather: three lookups run at the same time; one that fails leaves a gap, not an error page."""
    price, stock, rating = gearman.submit_multiple_jobs(
        [{"task": lookup, "args": [sku]} for lookup in (recipes.price, recipes.stock, recipes.rating)],
        return_exceptions=True,
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


def word_frequencies(request):
    """Map/reduce: split the posted text, count the words of every piece on the workers, add the counts up here."""
    try:
        pieces, top = int(request.POST.get("pieces", 4)), int(request.POST.get("top", 10))
    except ValueError:
        return HttpResponseBadRequest("pieces and top must be whole numbers")
    if pieces < 1:
        return HttpResponseBadRequest("pieces must be at least 1")
    lines = request.POST.get("text", "").splitlines()
    chunks = ["\n".join(lines[first::pieces]) for first in range(min(pieces, len(lines)))]
    counts = gearman.submit_multiple_jobs(recipes.count_words, [[chunk] for chunk in chunks])
    total = sum(map(Counter, counts), Counter())
    return JsonResponse({"pieces": len(chunks), "top": total.most_common(top)})


def place_order(request):
    """Pipeline: queue stage 1 and answer at once; each stage queues the next, the last one e-mails the invoice."""
    try:
        order = json.loads(request.body)
        email, quantities = order["email"], order["items"]
    except (ValueError, TypeError, KeyError):
        return HttpResponseBadRequest('expected JSON {"email": "...", "items": {"sku": quantity, ...}}')
    handle = recipes.place_order.submit_background(email, quantities)
    return JsonResponse({"handle": str(handle)}, status=202)


def contact(request):
    """Delayed e-mail: the mail worker talks to the mail server, not the request."""
    name, message = request.POST.get("name", ""), request.POST.get("message", "")
    if not message:
        return HttpResponseBadRequest("message is required")
    send_email.submit_background("shop@example.com", f"Message from {name or 'a visitor'}", message)
    return JsonResponse({"queued": True}, status=202)
