"""Fixtures of the browser tests: headless Chromium, and testproject served by a real
`manage.py runserver` on its own gearmand and its own copy of a migrated database."""

from __future__ import annotations

import pytest
from support.browser import ProjectDatabase, Site, WebServer, project_env, quit_chromium, start_chromium


@pytest.fixture(scope="session")
def project_database(tmp_path_factory) -> ProjectDatabase:
    return ProjectDatabase(tmp_path_factory.mktemp("browser-db"))


@pytest.fixture(scope="module")
def chromium():
    driver = start_chromium()
    yield driver
    quit_chromium(driver)


@pytest.fixture
def browser(chromium):
    """The module's Chromium with no cookies (so nobody is logged in) and an empty page."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.get("about:blank")
    return chromium


@pytest.fixture
def site(gearman_settings, project_database, tmp_path):
    """testproject on `gearman_settings`'s gearmand and a fresh database, storing every job's result."""
    database = project_database.copy(tmp_path / "db.sqlite3")
    extra_env = {"TESTPROJECT_DB": str(database), "GEARMAN_STORE_RESULTS": "1"}
    server = WebServer(project_env([gearman_settings], database, **extra_env), tmp_path / "runserver.log").start()
    yield Site(server, gearman_settings, extra_env)
    server.stop()
