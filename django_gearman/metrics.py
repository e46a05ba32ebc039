"""Prometheus metrics (the `metrics` extra: prometheus_client).

`metrics_view` serves them in Prometheus' text format, to staff allowed to
view the Servers page or to a scraper sending `Authorization: Bearer
<GEARMAN_METRICS_TOKEN>`. `GearmanCollector` reads them at each scrape, and
can be registered with a registry of your own instead:

- from the servers, as `gearman_server_info` reads them (`inspect_servers`):
  `gearman_server_up`, and per function `gearman_function_queued_jobs`,
  `..._running_jobs` and `..._workers`.
"""

from __future__ import annotations

import hmac

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.views.decorators.cache import never_cache

from . import conf
from .inspection import DEFAULT_TIMEOUT, configured_servers, inspect_servers

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise ImproperlyConfigured(
        "django_gearman.metrics needs prometheus_client: pip install 'django-gearman-jobs[metrics]'"
    ) from exc


class GearmanCollector:
    """Every metric, read when collected (a prometheus_client custom collector)."""

    def collect(self):
        yield from server_metrics()


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
