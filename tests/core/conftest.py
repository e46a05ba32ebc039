"""Fixtures for tests/core: a gearmand and shop worker shared by a module, throwaway
apps (tests/apps, or made in a temporary directory), and a gearman CLI worker."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.apps import APPS_DIR
from support.gearmand import point_settings_at
from support.processes import WorkerProcess, manage_py_env

from django_gearman import registry
from django_gearman.testing import GearmandFactory


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
    servers = [module_gearmand.address]
    worker = WorkerProcess(["-a", "shop", "-n", "worker"], manage_py_env(servers), servers, log)
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
    """Forget the tasks a test defined and the test-app modules it imported, so that
    throwaway apps stay out of other tests (and can be imported afresh by the next)."""
    known_tasks = dict(registry._tasks)
    known_modules = set(sys.modules)
    yield
    registry._tasks.clear()
    registry._tasks.update(known_tasks)
    for name in set(sys.modules) - known_modules:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(APPS_DIR)):
            del sys.modules[name]


@pytest.fixture
def make_app(tmp_path, settings, monkeypatch):
    """`make_app(label, {"gearman_workers/x.py": source})`: an app in tmp_path, installed for this test
    unless `installed=False` (its modules are forgotten afterwards; isolated_tasks forgets its tasks)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made = []

    def make(label: str, files: dict[str, str], installed: bool = True) -> None:
        for path, source in {"__init__.py": "", **files}.items():
            (tmp_path / label / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / label / path).write_text(source)
        made.append(label)
        if installed:
            settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, label]

    yield make
    for name in [name for name in sys.modules if name.split(".")[0] in made]:
        del sys.modules[name]


@pytest.fixture
def gearman_cli_worker(gearmand, start_peer_worker):
    """`gearman_cli_worker(function, *command)`: a non-Django worker (the `gearman` CLI) on the
    `gearmand` fixture's server that runs `command` per job, job data on stdin, stdout the result."""

    def start(function: str, *command: str) -> subprocess.Popen:
        return start_peer_worker("gearman", "-w", "-h", gearmand.host, "-p", gearmand.port, "-f", function,
                                 "--", *command, functions=[function])

    return start
