"""`manage.py gearman_worker -a APP -n WORKER [-q QUEUE] [-v N]` as real subprocesses."""

import subprocess
import sys

import pytest
from shop.gearman_workers.worker import add, fail, whoami
from support.apps import PROBE_ENV
from support.gearmand import registered_functions
from support.processes import MANAGE_PY, manage_py_env

from django_gearman import GearmanClient, GearmanJobFailed
from django_gearman.discovery import find_worker_module


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
    (["-a", "gearman_probe", "-n", "nope"],
     "app 'gearman_probe' has no worker module 'nope'; its worker modules: empty, probe"),
    (["-a", "shop", "-n", "mail", "-q", "nope"],
     "worker module shop.mail has no tasks in queue 'nope'; its queues: mail, reports"),
    (["-a", "gearman_probe", "-n", "empty"], "worker module gearman_probe.empty has no tasks"),
])
def test_unknown_app_worker_or_queue_exits_2_listing_what_exists(args, message):
    finished = run_worker_command(*args, env=PROBE_ENV)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.strip() == f"CommandError: {message}"


def test_required_options_are_usage_errors():
    finished = run_worker_command("-a", "shop")
    assert finished.returncode == 2
    assert "the following arguments are required: -n/--name" in finished.stderr


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
