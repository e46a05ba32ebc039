"""Constants and helpers for tests/django (fixtures live in gearman_support)."""

from __future__ import annotations

import sys
from pathlib import Path

from django_gearman.protocol import AdminClient

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"

# The throwaway apps of tests/apps, importable here for in-process discovery.
sys.path.insert(0, str(APPS_DIR))

#: Environment for a `manage.py` subprocess that also has the apps in GEARMAN_TEST_APPS installed.
PROBE_ENV = {"DJANGO_SETTINGS_MODULE": "probe_settings", "PYTHONPATH": str(APPS_DIR)}


def point_settings_at(settings, server) -> None:
    settings.GEARMAN_SERVERS = [str(server)]
    settings.GEARMAN_CLIENT_SERVERS = None
    settings.GEARMAN_WORKER_SERVERS = None


def registered_functions(server) -> set[str]:
    """Every function some worker has registered with this gearmand."""
    with AdminClient(str(server), timeout=5) as admin:
        return {function for worker in admin.workers() for function in worker.functions}


def queued_jobs(server, function: str) -> int:
    """Jobs gearmand holds for `function` (queued or running); 0 if it never heard of it."""
    with AdminClient(str(server), timeout=5) as admin:
        return sum(status.total for status in admin.status() if status.function == function)
