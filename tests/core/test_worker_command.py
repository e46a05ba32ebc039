"""`manage.py gearman_worker -a APP [-n WORKER] | --all [-q QUEUE] [--servers ...] [-v N]` as real subprocesses."""

import socket
import subprocess
import sys

import pytest
from shop.gearman_workers.worker import add, fail, whoami
from support.apps import PROBE_ENV
from support.gearmand import registered_functions
from support.processes import MANAGE_PY, manage_py_env

from django_gearman import GearmanClient, GearmanJobFailed
from django_gearman.discovery import discover, find_worker_module
from django_gearman.protocol import AdminClient


def run_worker_command(*args, env=None) -> subprocess.CompletedProcess:
    """Run a gearman_worker that is expected to exit by itself (bad arguments, broken apps)."""
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), "gearman_worker", *args],
        env=manage_py_env(["127.0.0.1:1"], env), capture_output=True, text=True, timeout=60,
    )


def test_serves_every_task_of_its_module(gearman_settings, start_worker):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings])
    assert registered_functions(gearman_settings) == {task.name for task in find_worker_module("shop", "worker").tasks}


@pytest.mark.parametrize(("queue", "expected"), [
    ([], {"send-email", "shop.mail.daily_report"}),
    (["-q", "mail"], {"send-email"}),
    (["--queue", "reports"], {"shop.mail.daily_report"}),
])
def test_a_queue_limits_the_tasks_served(gearman_settings, start_worker, queue, expected):
    start_worker("-a", "shop", "-n", "mail", *queue, servers=[gearman_settings])
    assert registered_functions(gearman_settings) == expected


def task_names(app_label: str) -> set[str]:
    return {task.name for module in discover() if module.app_label == app_label for task in module.tasks}


def client_ids(server) -> list[str]:
    with AdminClient(str(server)) as admin:
        return [worker.client_id for worker in admin.workers() if worker.functions]


PROBE_TASKS = {f"gearman_probe.probe.{name}" for name in (
    "record", "raise_probe_error", "nothing", "log_level", "send_data", "raise_unprintable", "append_job_id",
    "note_start")}


@pytest.mark.parametrize(("options", "label", "expected"), [
    (["-a", "shop"], "shop", lambda: task_names("shop")),
    (["--all"], "all", lambda: task_names("shop") | PROBE_TASKS),
    (["-a", "shop", "-q", "mail"], "shop", lambda: {"send-email"}),
    (["--all", "--queue", "reports"], "all", lambda: {"shop.mail.daily_report"}),
])
def test_one_process_serves_an_app_or_the_whole_project(gearman_settings, start_worker, options, label, expected):
    worker = start_worker(*options, servers=[gearman_settings], env=PROBE_ENV)
    assert registered_functions(gearman_settings) == expected()
    assert client_ids(gearman_settings) == [f"{socket.gethostname()}:{worker.pid}:{label}"]


def test_servers_overrides_the_worker_servers_of_the_settings(gearmand_factory, start_worker):
    in_settings, chosen = gearmand_factory(), gearmand_factory()
    worker = start_worker("-a", "shop", "-n", "mail", "--servers", f"127.0.0.1:{chosen.port}",
                          servers=[in_settings], wait=False)
    worker.servers = [chosen.address]
    worker.wait_registered()
    assert registered_functions(chosen) == {"send-email", "shop.mail.daily_report"}
    assert registered_functions(in_settings) == set()


def test_a_task_that_raises_is_reported_and_the_worker_goes_on(gearman_settings, start_worker):
    worker = start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings])
    for attempt in range(3):
        with pytest.raises(GearmanJobFailed, match=f"ValueError: attempt {attempt}"):
            fail.submit(f"attempt {attempt}")
    assert add.submit(2, 3) == 5
    assert whoami.submit() == worker.pid
    assert "task shop.worker.fail (job H:" in worker.output and "ValueError: attempt 2" in worker.output


@pytest.mark.parametrize(("args", "message"), [
    (["-a", "nope", "-n", "worker"], "no installed app 'nope'; apps with worker modules: gearman_probe, shop"),
    (["-a", "auth", "-n", "worker"],
     "app 'auth' has no gearman_workers package; apps with worker modules: gearman_probe, shop"),
    (["-a", "auth"], "app 'auth' has no gearman_workers package; apps with worker modules: gearman_probe, shop"),
    (["-a", "gearman_probe", "-n", "nope"],
     "app 'gearman_probe' has no worker module 'nope'; its worker modules: empty, probe"),
    (["-a", "shop", "-n", "mail", "-q", "nope"],
     "worker module shop.mail has no tasks in queue 'nope'; its queues: mail, reports"),
    (["-a", "shop", "-q", "nope"], "app 'shop' has no tasks in queue 'nope'; its queues: mail, reports"),
    (["--all", "-q", "nope"], "the project has no tasks in queue 'nope'; its queues: mail, reports"),
    (["-a", "gearman_probe", "-n", "empty"], "worker module gearman_probe.empty has no tasks"),
])
def test_unknown_app_worker_or_queue_exits_2_listing_what_exists(args, message):
    finished = run_worker_command(*args, env=PROBE_ENV)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.strip() == f"CommandError: {message}"


@pytest.mark.parametrize(("args", "error"), [
    ([], "CommandError: say what to serve: -a APP [-n WORKER], --all or --django-tasks"),
    (["-n", "worker"], "CommandError: -n/--name names a worker module of an app: give the app with -a/--app"),
    (["--all", "-a", "shop"], "error: argument -a/--app: not allowed with argument --all"),
    (["-a", "shop", "--servers", "127.0.0.1:4730,host:port:x"],
     "error: argument --servers: invalid Gearman server 'host:port:x': expected 'host:port' or "
     "'[IPv6 address]:port'"),
])
def test_options_that_do_not_fit_are_usage_errors(args, error):
    finished = run_worker_command(*args)
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines()[-1].endswith(error)


@pytest.mark.parametrize(("app", "shown"), [
    # A KeyError raised by a worker module is a LookupError too, but not an unknown worker.
    ("gearman_broken", ["Traceback (most recent call last)", "gearman_broken/gearman_workers/bad.py",
                        "KeyError: 'GEARMAN_BROKEN_API_TOKEN'"]),
    ("gearman_dupes", ["two Gearman tasks are named 'same-name'", "first.py:4", "second.py:4"]),
])
def test_a_broken_worker_package_stops_the_worker_with_its_own_error(app, shown):
    finished = run_worker_command("-a", "shop", "-n", "worker", env={**PROBE_ENV, "GEARMAN_TEST_APPS": app})
    assert finished.returncode == 1
    assert [text for text in shown if text not in finished.stderr] == []


@pytest.mark.parametrize(("verbosity", "level"), [("0", "WARNING"), ("1", "INFO"), ("2", "DEBUG"), ("3", "DEBUG")])
def test_verbosity_sets_the_django_gearman_logger_level(gearman_settings, start_worker, verbosity, level):
    worker = start_worker("-a", "gearman_probe", "-n", "probe", "-v", verbosity, servers=[gearman_settings],
                          env=PROBE_ENV)
    assert GearmanClient().submit_job("gearman_probe.probe.log_level") == level
    serving_logged = "<GearmanWorker gearman_probe.probe> serving" in worker.output
    assert serving_logged is (level != "WARNING")
