"""The throwaway apps of tests/apps (pyproject puts that directory on the path)."""

from __future__ import annotations

from pathlib import Path

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"

#: Environment for a `manage.py` subprocess that also has the apps in GEARMAN_TEST_APPS installed.
PROBE_ENV = {"DJANGO_SETTINGS_MODULE": "probe_settings", "PYTHONPATH": str(APPS_DIR)}
