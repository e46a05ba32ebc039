"""Prometheus metrics (the `metrics` extra: prometheus_client).

`metrics_view` serves them in Prometheus' text format, to staff allowed to
view the Servers page or to a scraper sending `Authorization: Bearer
<GEARMAN_METRICS_TOKEN>`. `GearmanCollector` reads them at each scrape, and
can be registered with a registry of your own instead:

- from the servers, as `gearman_server_info` reads them (`inspect_servers`):
  `gearman_server_up`, and per function `gearman_function_queued_jobs`,
  `..._running_jobs` and `..._workers`;
- from the result store (`results.task_totals`, one query): per task the
  counters `gearman_task_succeeded_total`, `..._failed_total` and
  `..._retried_total` and the histogram `gearman_task_duration_seconds`,
  and `gearman_result_store_up`. Every worker process writes to that one
  store, so any web process serves the same numbers for all of them; jobs
  whose task does not store results are not counted, and
  `gearman_prune_results` (or deleting rows) lowers the counts (README).
"""

from __future__ import annotations

import hmac
import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.http import HttpResponse
from django.views.decorators.cache import never_cache

from . import conf
from .inspection import DEFAULT_TIMEOUT, configured_servers, inspect_servers

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImproperlyConfigured(
        "django_gearman.metrics needs prometheus_client: pip install 'django-gearman-jobs[metrics]'"
    ) from exc

logger = logging.getLogger("django_gearman.metrics")


class GearmanCollector:
    """Every metric, read when collected (a prometheus_client custom collector)."""

    def collect(self):
        yield from server_metrics()
        yield from result_store_metrics()


def server_metrics():
    reports = inspect_servers(configured_servers(), DEFAULT_TIMEOUT)
    up = GaugeMetricFamily("gearman_server_up", "1 if the server answered the admin protocol, 0 if not.",
                           labels=["server"])
    labels = ["server", "function"]
    queued = GaugeMetricFamily("gearman_function_queued_jobs", "Jobs waiting for a worker.", labels=labels)
    running = GaugeMetricFamily("gearman_function_running_jobs", "Jobs a worker has taken.", labels=labels)
    workers = GaugeMetricFamily("gearman_function_workers", "Workers that registered the function.", labels=labels)
    for report in reports:
        up.add_metric([report.address], 1 if report.answered else 0)
        for status in report.functions:
            key = [report.address, status.function]
            queued.add_metric(key, status.queued)
            running.add_metric(key, status.running)
            workers.add_metric(key, status.available_workers)
    return [up, queued, running, workers]


#: Upper bounds, in seconds, of gearman_task_duration_seconds' buckets (+Inf is added).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def result_store_metrics():
    """Per task, from the result store's rows (`results.task_totals`, one query); if the store cannot
    be read, `gearman_result_store_up` says so and the servers' metrics are served all the same."""
    from . import results  # the store, read at a scrape: not imported with the URLconf

    up = GaugeMetricFamily("gearman_result_store_up", "1 if the result store could be read, 0 if not.")
    try:
        totals = results.task_totals(DURATION_BUCKETS)
    except DatabaseError as exc:
        logger.warning("metrics: the result store could not be read (%s: %s)", type(exc).__name__, exc)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    labels = ["task"]
    succeeded = CounterMetricFamily("gearman_task_succeeded", "Stored jobs of the task that succeeded.", labels=labels)
    failed = CounterMetricFamily("gearman_task_failed", "Stored jobs of the task that failed (after their retries).",
                                 labels=labels)
    retried = CounterMetricFamily("gearman_task_retried", "Attempts of stored jobs after their first.", labels=labels)
    duration = HistogramMetricFamily("gearman_task_duration_seconds",
                                     "Run time of the attempt that finished each stored job.", labels=labels)
    for task in totals:
        label = [task.task]
        succeeded.add_metric(label, task.succeeded)
        failed.add_metric(label, task.failed)
        retried.add_metric(label, task.retried)
        buckets = [(repr(bound), count) for bound, count in zip(DURATION_BUCKETS, task.within, strict=True)]
        duration.add_metric(label, [*buckets, ("+Inf", task.timed)], task.seconds)
    return [up, succeeded, failed, retried, duration]


def allowed(request) -> bool:
    """Staff who may view the Servers page, or the bearer of GEARMAN_METRICS_TOKEN."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff and user.has_perm("django_gearman.view_server"):
        return True
    token = conf.get().metrics_token
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


@never_cache
def metrics_view(request):
    if not allowed(request):
        return HttpResponse("Staff with the view permission of Gearman servers, or the bearer of "
                            "GEARMAN_METRICS_TOKEN, may read these metrics.\n", status=401,
                            content_type="text/plain", headers={"WWW-Authenticate": 'Bearer realm="gearman"'})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GearmanCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
