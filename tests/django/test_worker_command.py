"""`manage.py gearman_worker -a APP -n WORKER [-q QUEUE] [-v N]` as real subprocesses."""

import subprocess
import sys

import pytest
from conftest import MANAGE_PY, manage_py_env
from gearman_helpers import PROBE_ENV, registered_functions
from shop.gearman_workers.worker import add, fail, whoami

from django_gearman import GearmanClient, GearmanJobFailed
from django_gearman.registry import find_worker

pytest_plugins = ["gearman_support"]


def run_worker_command(*args, env=None) -> subprocess.CompletedProcess:
    """Run a gearman_worker that is expected to exit by itself (bad arguments, broken apps)."""
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), "gearman_worker", *args],
        env=manage_py_env(["127.0.0.1:1"], env), capture_output=True, text=True, timeout=60,
    )


def test_serves_every_task_of_its_module(gearman_settings, start_worker):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings])
    assert registered_functions(gearman_settings) == {task.name for task in find_worker("shop", "worker").tasks}


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
    (["-a", "nope", "-n", "worker"], "no installed app 'nope'; apps with workers: gearman_probe, shop"),
    (["-a", "auth", "-n", "worker"],
     "app 'auth' has no gearman_workers package; apps with workers: gearman_probe, shop"),
    (["-a", "gearman_probe", "-n", "nope"], "app 'gearman_probe' has no worker 'nope'; its workers: empty, probe"),
    (["-a", "shop", "-n", "mail", "-q", "nope"],
     "worker shop.mail has no tasks in queue 'nope'; its queues: mail, reports"),
    (["-a", "gearman_probe", "-n", "empty"], "worker gearman_probe.empty has no tasks"),
])
def test_unknown_app_worker_or_queue_exits_2_listing_what_exists(args, message):
    finished = run_worker_command(*args, env=PROBE_ENV)
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.strip() == f"CommandError: {message}"


def test_required_options_are_usage_errors():
    finished = run_worker_command("-a", "shop")
    assert finished.returncode == 2
    assert "the following arguments are required: -n/--name" in finished.stderr


def test_an_exception_inside_a_worker_module_is_not_taken_for_an_unknown_worker():
    broken = {**PROBE_ENV, "GEARMAN_TEST_APPS": "gearman_broken"}
    finished = run_worker_command("-a", "shop", "-n", "worker", env=broken)
    assert finished.returncode == 1
    assert "Traceback (most recent call last)" in finished.stderr
    assert "gearman_broken/gearman_workers/bad.py" in finished.stderr
    assert "KeyError: 'GEARMAN_BROKEN_API_TOKEN'" in finished.stderr


def test_two_tasks_with_one_name_stop_the_worker_naming_both():
    duplicates = {**PROBE_ENV, "GEARMAN_TEST_APPS": "gearman_dupes"}
    finished = run_worker_command("-a", "shop", "-n", "worker", env=duplicates)
    assert finished.returncode == 1
    assert "two Gearman tasks are named 'same-name'" in finished.stderr
    assert "first.py:4" in finished.stderr and "second.py:4" in finished.stderr


@pytest.mark.parametrize(("verbosity", "level"), [("0", "WARNING"), ("1", "INFO"), ("2", "DEBUG"), ("3", "DEBUG")])
def test_verbosity_sets_the_django_gearman_logger_level(gearman_settings, start_worker, verbosity, level):
    worker = start_worker("-a", "gearman_probe", "-n", "probe", "-v", verbosity, servers=[gearman_settings],
                          env=PROBE_ENV)
    assert GearmanClient().submit_job("gearman_probe.probe.log_level") == level
    serving_logged = "<Worker gearman_probe.probe> serving" in worker.output
    assert serving_logged is (level != "WARNING")
