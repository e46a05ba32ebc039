"""A foreground job without a timeout for a function no worker has registered: after
GEARMAN_SUBMIT_TIMEOUT seconds of silence, one warning per function, naming it and the
command that would serve it (real gearmand and workers)."""

import logging
import re
from datetime import date

import pytest
from shop.gearman_workers.mail import daily_report
from shop.gearman_workers.worker import add, wait_for_file
from support.waiting import wait_for

from django_gearman import gearman_task, unserved

SILENCE = 0.3


@pytest.fixture
def warnings_of(gearman_settings, settings, caplog):
    """`warnings_of()`: the no-worker warnings logged so far (the client waits SILENCE s before asking)."""
    settings.GEARMAN_SUBMIT_TIMEOUT = SILENCE
    caplog.set_level(logging.DEBUG, logger="django_gearman.client")
    unserved._warned.clear()

    def warnings() -> list[str]:
        return [record.getMessage() for record in caplog.records if "has no worker for it" in record.getMessage()]

    yield warnings
    unserved._warned.clear()


def test_a_job_nobody_serves_is_named_once_with_the_command_that_serves_it(
        warnings_of, gearman_settings, settings, start_worker, in_background):
    settings.GEARMAN_TASK_PREFIX = "p."
    call = in_background(add.submit, 2, 3)
    [warning] = wait_for(warnings_of)
    assert re.fullmatch(
        rf"foreground job 'p\.shop\.worker\.add' \(handle H:[^ ]+@{gearman_settings.address}\) has waited "
        rf"{SILENCE} s, and gearmand at {gearman_settings.address} has no worker for it; without a timeout it "
        r"waits until one registers\. Start one: `manage\.py gearman_worker -a shop -n worker` serves it "
        r"\(`manage\.py gearman_worker --all` in development\)\.", warning)
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env={"GEARMAN_TASK_PREFIX": "p."})
    assert call.result(30) == 5


def test_jobs_of_one_function_waiting_at_once_get_one_warning(
        warnings_of, gearman_settings, start_worker, in_background):
    calls = [in_background(daily_report.submit, date(2025, 1, 31)) for _ in range(3)]
    wait_for(warnings_of)
    start_worker("-a", "shop", "-n", "mail", servers=[gearman_settings])
    assert [call.result(30) for call in calls] == ["report for 2025-01-31"] * 3
    assert len(warnings_of()) == 1


def test_a_job_waiting_for_a_busy_worker_is_no_warning(warnings_of, gearman_settings, start_worker, in_background,
                                                        tmp_path, caplog):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings])
    release = tmp_path / "release"
    busy = in_background(wait_for_file.submit, str(release))
    queued = in_background(add.submit, 1, 1)
    asked = f"foreground job 'shop.worker.add' has waited {SILENCE} s; gearmand at {gearman_settings} lists 1 workers"
    wait_for(lambda: asked in caplog.text, message="the queued job's server to be asked about its workers")
    release.write_text("done")
    assert (busy.result(30), queued.result(30)) == ("done", 2)
    assert warnings_of() == []


def test_a_task_outside_a_worker_module_gets_the_check_to_read(warnings_of, isolated_tasks, gearman_cli_worker,
                                                              in_background):
    @gearman_task
    def stray():
        return 7

    call = in_background(stray.submit)
    [warning] = wait_for(warnings_of)
    assert warning.endswith(f"{stray.location} is defined outside a worker module, so no gearman_worker serves it "
                            "(`manage.py check` explains: django_gearman.W002).")
    gearman_cli_worker(stray.name, "echo", "7")
    assert call.result(30) == 7
