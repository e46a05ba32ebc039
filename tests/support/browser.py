"""A real browser on a real web server: Debian's headless Chromium driven through Selenium
(chromium-driver), and testproject served by `manage.py runserver` in a subprocess.

The web server, the workers and the test's own `manage.py` commands share one SQLite
file (`TESTPROJECT_DB`): `ProjectDatabase` migrates a template once and hands each test
a copy, with its users already made.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from django_gearman.testing import free_port

from .processes import MANAGE_PY, manage_py_env

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
BROWSER_INSTALL_HINT = "sudo apt-get install -y chromium chromium-driver"
#: Headless, and nothing but 127.0.0.1: without the background-networking flags Chromium
#: reaches out to the internet (updates, field trials, sync) on its own.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
WINDOW_SIZE = (1280, 900)
#: Where the browser tests leave their screenshots, relative to the checkout unless absolute.
SCREENSHOT_DIR = Path(os.environ.get("GEARMAN_SCREENSHOT_DIR", "test-artifacts/screenshots"))
ROOT = MANAGE_PY.parent.parent

#: The users every test database has: (username, password).
STAFF = ("operator", "operator-password")
CUSTOMER = ("customer", "customer-password")
#: The permissions of STAFF: the Gearman pages and nothing else.
STAFF_PERMISSIONS = ("view_server", "view_joblookup", "view_jobresult", "delete_jobresult", "requeue_jobresult")

MAKE_USERS = f"""
from django.contrib.auth.models import Permission, User
staff = User.objects.create_user({STAFF[0]!r}, password={STAFF[1]!r}, is_staff=True)
staff.user_permissions.set(Permission.objects.filter(content_type__app_label="django_gearman",
                                                     codename__in={list(STAFF_PERMISSIONS)!r}))
User.objects.create_user({CUSTOMER[0]!r}, password={CUSTOMER[1]!r})
"""


def manage_py(*args, env: dict[str, str], timeout: float = 60) -> str:
    """Run a testproject `manage.py` command to completion; its output (it must succeed)."""
    finished = subprocess.run([sys.executable, str(MANAGE_PY), *args], env=env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
    assert finished.returncode == 0, f"manage.py {' '.join(args)} exited with {finished.returncode}:\n{finished.stderr}"
    return finished.stdout


class ProjectDatabase:
    """A migrated SQLite file with the users above, copied afresh for each test."""

    def __init__(self, directory: Path):
        self.template = directory / "template.sqlite3"
        env = {**os.environ, "TESTPROJECT_DB": str(self.template)}
        manage_py("migrate", "--no-input", "-v", "0", env=env, timeout=120)
        manage_py("shell", "-c", MAKE_USERS, env=env)

    def copy(self, path: Path) -> Path:
        shutil.copyfile(self.template, path)
        return path


class WebServer:
    """`manage.py runserver --noreload` on a free 127.0.0.1 port, stopped by pid."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> WebServer:
        for _attempt in range(5):  # another process may take the free port before runserver binds it
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, str(MANAGE_PY), "runserver", "--noreload", "--skip-checks",
                     f"127.0.0.1:{self.port}"],
                    env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                )
            if self._wait_ready(time.monotonic() + timeout):
                return self
        pytest.fail(f"runserver did not start:\n{self.log_path.read_text()}")

    def _wait_ready(self, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/admin/login/", timeout=5):
                    return True
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"runserver on port {self.port} did not answer within the deadline:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_chromium():
    """A Selenium driver for headless Chromium with a profile of its own (removed on quit)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(f"the browser tests need {' and '.join(missing)}: {BROWSER_INSTALL_HINT}", pytrace=False)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.profile_directory = profile
    return driver


def quit_chromium(driver) -> None:
    driver.quit()
    shutil.rmtree(driver.profile_directory, ignore_errors=True)


def screenshot(driver, name: str) -> Path:
    """Save the whole page, however long, as SCREENSHOT_DIR/NAME.png (the directory CI keeps)."""
    directory = SCREENSHOT_DIR if SCREENSHOT_DIR.is_absolute() else ROOT / SCREENSHOT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                              "clip": clip})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def project_env(servers, database: Path, **extra: str) -> dict[str, str]:
    """The environment of every testproject process of a browser test: one gearmand, one database."""
    return manage_py_env(servers, {"TESTPROJECT_DB": str(database), **extra})


class Site:
    """testproject as a browser test sees it: served at `url`, with `env` for its other processes."""

    def __init__(self, server: WebServer, gearmand, extra_env: dict[str, str]):
        self.server = server
        self.gearmand = gearmand
        #: What `start_worker(..., env=site.extra_env)` and `manage_py` need to share this site's database.
        self.extra_env = extra_env

    def url(self, path: str) -> str:
        return self.server.url + path

    @property
    def env(self) -> dict[str, str]:
        return project_env([self.gearmand], Path(self.extra_env["TESTPROJECT_DB"]), **self.extra_env)
