"""Fixtures for tests/django, loaded by each module with `pytest_plugins = ["gearman_support"]`.

(tests/django cannot have a conftest.py: without a package around it, that
module would replace the root conftest that other suites import from, and
with one it would be a package called `django`.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import WorkerProcess, manage_py_env

from django_gearman import tasks
from django_gearman.protocol import AdminClient
from django_gearman.testing import GearmandFactory

APPS_DIR = Path(__file__).resolve().parent.parent / "apps"
DOCS_DIR = Path(__file__).resolve().parent.parent.parent / "docs"
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


@pytest.fixture(scope="module")
def module_gearmand(tmp_path_factory):
    """A gearmand shared by one test module's tests (stopped by pid afterwards)."""
    factory = GearmandFactory(str(tmp_path_factory.mktemp("gearmand")))
    yield factory()
    factory.stop_all()


@pytest.fixture(scope="module")
def module_shop_worker(module_gearmand, tmp_path_factory):
    """One `gearman_worker -a shop -n worker` shared by a module's tests that leave it idle."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = WorkerProcess(["-a", "shop", "-n", "worker"], manage_py_env([module_gearmand]), [module_gearmand.address], log)
    try:
        yield worker.wait_registered()
    finally:
        worker.stop()


@pytest.fixture
def shop_worker(module_shop_worker, module_gearmand, settings):
    """The shared shop worker, with this test's settings pointed at its gearmand."""
    point_settings_at(settings, module_gearmand)
    return module_shop_worker


@pytest.fixture
def isolated_tasks():
    """Forget the tasks and modules a test imported (throwaway apps stay out of other tests)."""
    known_tasks = dict(tasks._tasks)
    known_modules = set(sys.modules)
    yield
    tasks._tasks.clear()
    tasks._tasks.update(known_tasks)
    for name in set(sys.modules) - known_modules:
        del sys.modules[name]
