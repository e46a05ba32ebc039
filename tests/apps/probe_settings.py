"""The example project's settings plus the test apps named in GEARMAN_TEST_APPS (default: gearman_probe)."""

import os

from testproject.settings import *  # noqa: F403
from testproject.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, *filter(None, os.environ.get("GEARMAN_TEST_APPS", "gearman_probe").split(","))]
