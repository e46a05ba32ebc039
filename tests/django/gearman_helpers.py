"""Constants for tests/django (fixtures live in gearman_support)."""

from __future__ import annotations

import sys
from pathlib import Path

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"

# The throwaway apps of tests/apps, importable here for in-process discovery.
sys.path.insert(0, str(APPS_DIR))

#: Environment for a `manage.py` subprocess that also has the apps in GEARMAN_TEST_APPS installed.
PROBE_ENV = {"DJANGO_SETTINGS_MODULE": "probe_settings", "PYTHONPATH": str(APPS_DIR)}
