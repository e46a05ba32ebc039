"""`manage.py gearman_submit`: submit a task from a shell to real workers."""

import pytest
from support.commands import HOLD, UNSERVED, run, run_failing, run_manage_py
from support.waiting import wait_for
from support.workers import release

from django_gearman import GearmanClient, JobHandle

WORKER = ("-a", "shop", "-n", "worker")


@pytest.fixture
def worker(gearman_settings, start_worker):
    return start_worker(*WORKER, servers=[gearman_settings])


def test_prints_the_result_as_json(worker):
    assert run("gearman_submit", "shop.worker.add", "[2, 3]") == "5\n"
    assert run("gearman_submit", "shop.worker.add", "--kwargs", '{"a": 2, "b": 3}', "--priority", "high") == "5\n"
    # echo returns its positional arguments as a tuple: printed as a JSON array.
    assert run("gearman_submit", "shop.worker.echo", '[1, "é", null]', "--kwargs", '{"x": {"y": [true]}}') == (
        '{"args": [1, "é", null], "kwargs": {"x": {"y": [true]}}}\n'
    )


def test_background_prints_a_job_handle_that_can_be_polled(worker, tmp_path):
    flag = tmp_path / "release"

    handle = JobHandle.from_string(run("gearman_submit", HOLD, f'["{flag}"]', "--background").strip())

    client = GearmanClient()
    wait_for(lambda: client.get_job_status(handle).running, message="the background job to start")
    release(flag)
    wait_for(lambda: not client.get_job_status(handle).known, message="the background job to finish")
    client.close()


def test_a_failed_job_is_an_error_naming_the_remote_exception(worker):
    output, error = run_failing("gearman_submit", "shop.worker.fail", '["boom"]')

    assert output == ""
    assert error.returncode == 1
    assert str(error) == "job 'shop.worker.fail' failed: ValueError: boom"


def test_timeout_and_unreachable_servers_are_errors(gearman_settings, settings, refused_address):
    _, timed_out = run_failing("gearman_submit", UNSERVED, "--timeout", "0.3")
    settings.GEARMAN_SERVERS = [refused_address]
    _, unreachable = run_failing("gearman_submit", "shop.worker.add", "[1, 2]")

    assert str(timed_out).startswith(f"GearmanTimeout: job '{UNSERVED}' did not finish within 0.3 s")
    assert str(unreachable).startswith("GearmanServerUnavailable: no Gearman server took the job: cannot connect")


@pytest.mark.parametrize(("args", "message"), [
    (("[2, ",), "argument JSON_ARGS: '[2, ' is not valid JSON: Expecting value: line 1 column 5 (char 4)"),
    (('{"a": 2}',), "argument JSON_ARGS: must be a JSON array of positional arguments, got '{\"a\": 2}'"),
    (("[]", "--kwargs", "[1]"), "argument --kwargs: must be a JSON object of keyword arguments, got '[1]'"),
    (("[]", "--priority", "urgent"), "argument --priority: invalid choice: 'urgent'"),
    (("[]", "--timeout", "0"), "argument --timeout: must be more than 0, got 0"),
])
def test_bad_arguments_are_named(args, message):
    _, error = run_failing("gearman_submit", "shop.worker.add", *args)

    assert str(error).startswith(f"Error: {message}")


def test_exit_statuses_and_messages_from_a_shell(gearmand, start_worker):
    start_worker(*WORKER, servers=[gearmand])

    done = run_manage_py("gearman_submit", "shop.worker.add", "[2, 3]", servers=[gearmand])
    failed = run_manage_py("gearman_submit", "shop.worker.fail", '["boom"]', "-v", "2", servers=[gearmand])
    misused = run_manage_py("gearman_submit", "shop.worker.add", "[2,", servers=[gearmand])

    assert (done.returncode, done.stdout, done.stderr) == (0, "5\n", "")
    assert (failed.returncode, failed.stdout) == (1, "")
    assert failed.stderr.startswith("Remote traceback:\nTraceback (most recent call last):")
    assert failed.stderr.endswith("ValueError: boom\nCommandError: job 'shop.worker.fail' failed: ValueError: boom\n")
    assert misused.returncode == 2
    assert misused.stderr.endswith("error: argument JSON_ARGS: '[2,' is not valid JSON: "
                                   "Expecting value: line 1 column 4 (char 3)\n")
