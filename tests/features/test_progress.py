"""Progress of background jobs: workers report it, clients poll it by handle."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from support.processes import MANAGE_PY, manage_py_env
from support.waiting import wait_for
from support.workers import release

from django_gearman import GearmanClient, JobHandle, JobStatus

FINISHED = JobStatus(known=False, running=False, numerator=0, denominator=0)


def test_a_running_job_reports_progress_to_whoever_holds_its_handle(serve, gearman, tmp_path):
    serve("worker")
    flag = tmp_path / "flag"
    handle = gearman.submit_job("shop.worker.report_and_wait", args=[3, 10, str(flag)], background=True)

    reported = JobStatus(known=True, running=True, numerator=3, denominator=10)
    wait_for(lambda: gearman.get_job_status(handle) == reported, message=f"status 3/10 of {handle}")
    # A view stores str(handle); another request, with another client, polls it.
    assert GearmanClient().get_job_status(str(handle)) == reported
    assert GearmanClient().get_job_status(JobHandle.from_string(str(handle))).fraction == 0.3

    release(flag)
    wait_for(lambda: gearman.get_job_status(handle) == FINISHED, message=f"{handle} to finish")


def test_a_queued_job_is_known_but_not_running(gearman):
    handle = gearman.submit_job("shop.worker.add", args=[1, 2], background=True)  # no worker serves it

    assert gearman.get_job_status(handle) == JobStatus(known=True, running=False, numerator=0, denominator=0)


def test_status_is_asked_of_the_server_that_took_the_job(gearmand_factory, settings):
    first, second = gearmand_factory(), gearmand_factory()
    settings.GEARMAN_SERVERS = [str(first)]
    handle = GearmanClient().submit_job("shop.worker.add", args=[1, 2], background=True)
    # Handles are only unique per server: the second server must not be asked, although it comes first.
    settings.GEARMAN_SERVERS = [str(second), str(first)]

    assert handle.server == str(first)
    assert GearmanClient().get_job_status(str(handle)).known


def test_handles_from_elsewhere_are_refused_with_a_clear_error(gearman, gearmand_factory):
    with pytest.raises(ValueError, match="not a job handle string: 'H:host:1'"):
        JobHandle.from_string("H:host:1")
    elsewhere = JobHandle("H:host:1", str(gearmand_factory()))
    with pytest.raises(ValueError, match="not one of this client's servers"):
        gearman.get_job_status(elsewhere)


def test_views_start_a_job_and_poll_it_by_handle(serve, client):
    serve("worker")
    handle = client.get("/count/", {"steps": 3}).json()["handle"]
    seen = []

    def finished():
        status = client.get(f"/count/{handle}/").json()
        seen.append(status)
        return not status["known"]

    wait_for(finished, timeout=30, message=f"count_to(3) ({handle}) to finish")
    # Progress only goes forward, and the worker's denominator is the task's step count.
    numerators = [status["numerator"] for status in seen if status["known"]]
    assert numerators == sorted(numerators)
    assert {status["denominator"] for status in seen} <= {0, 3}


def test_the_status_view_refuses_what_is_not_a_handle_of_ours(gearman_settings, client):
    assert client.get("/count/nonsense/").content == (
        b"not a job handle string: 'nonsense' (expected 'HANDLE@host:port')")
    assert b"not one of this client's servers" in client.get("/count/H:host:1@192.0.2.1:4730/").content


def test_the_progress_page_polls_the_status_view_of_its_job(gearman_settings, client):
    page = client.get("/progress/", {"steps": 4}).content.decode()

    handle = re.search(r"<code>(\S+@\S+)</code>", page).group(1)
    assert f'"/count/{handle}/"' in page
    assert GearmanClient().get_job_status(handle).known  # queued: nobody serves count_to here


def test_demo_command_shows_a_progress_bar_until_the_job_is_done(gearman_settings, tmp_path):
    demo = subprocess.run(
        [sys.executable, str(MANAGE_PY), "demo"],
        env=manage_py_env([gearman_settings], {"TESTPROJECT_DB": str(tmp_path / "demo.sqlite3")}),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )

    assert demo.returncode == 0, demo.stderr
    lines = demo.stdout.splitlines()
    assert "add(2, 3) -> 5" in lines
    bars = [line for line in lines if line.startswith("  [")]
    assert bars[-1] == "  [####################] done"
    for bar in bars[:-1]:
        assert re.fullmatch(r"  \[[#.]{20}\] (queued|started|[0-5]/5)", bar), bar
    assert "worker exited with status 0 after SIGTERM" in lines
