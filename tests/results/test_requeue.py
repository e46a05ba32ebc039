"""`manage.py gearman_requeue` and `gearman_prune_results` on the result store, with real
gearmand and workers on both databases."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone
from shop.gearman_workers.outcomes import needs_file, refuse, total
from support.commands import run, run_failing
from support.gearmand import function_status
from support.waiting import wait_for

from django_gearman import GearmanJobFailed, get_result
from django_gearman.models import JobResult


def failed_job(gearman, task, *args, job_id: str) -> str:
    with pytest.raises(GearmanJobFailed):
        gearman.submit_job(task, args=list(args), unique=job_id)
    return job_id


def test_a_failed_job_fixed_and_requeued_runs_again_as_a_new_linked_job(db_backend, serve_outcomes, gearman,
                                                                        tmp_path):
    serve_outcomes()
    path = tmp_path / "input.txt"
    failed_job(gearman, needs_file, str(path), job_id="needs-file-1")
    path.write_text("here now")

    [line] = run("gearman_requeue", "needs-file-1").splitlines()
    original, arrow, new_id, function, *rest = line.split(" ")
    assert (original, arrow, new_id.rstrip(":"), function) == (
        "needs-file-1", "->", new_id.rstrip(":"), "shop.outcomes.needs_file")
    assert f'{{"args": ["{path}"], "kwargs": {{}}}} (priority normal, handle H:' in line
    again = get_result(new_id.rstrip(":"), wait=True, timeout=30)
    assert (again.status, again.value, again.requeued_from) == ("succeeded", "here now", "needs-file-1")
    assert get_result("needs-file-1").status == "failed"  # the original stays as it was


def test_a_signed_job_is_verified_and_signed_again_for_its_new_id(db_backend, serve_outcomes, gearman, settings,
                                                                  tmp_path):
    settings.GEARMAN_SIGNING_KEY = "requeue-test-key"
    serve_outcomes(env={"GEARMAN_SIGNING_KEY": "requeue-test-key"})
    path = tmp_path / "input.txt"
    failed_job(gearman, needs_file, str(path), job_id="signed-1")
    path.write_text("signed again")

    [line] = run("gearman_requeue", "signed-1").splitlines()
    assert get_result(line.split(" ")[2].rstrip(":"), wait=True, timeout=30).value == "signed again"
    settings.GEARMAN_SIGNING_KEY = "another-key"  # the stored payload no longer verifies: nothing is sent
    _, error = run_failing("gearman_requeue", "signed-1")
    assert str(error).startswith("job signed-1: its stored payload cannot be read (")
    assert str(error).endswith(". Nothing was sent.")


def test_failed_sends_every_failed_job_of_a_task_once(db_backend, serve_outcomes, gearman, tmp_path):
    serve_outcomes()
    path = tmp_path / "input.txt"
    failed_job(gearman, needs_file, str(path), job_id="first")
    failed_job(gearman, needs_file, str(path), job_id="second")
    failed_job(gearman, refuse, "not this one", job_id="other-task")
    path.write_text("ok")

    output = run("gearman_requeue", "--failed", "--task", "shop.outcomes.needs_file")
    assert [line.split(" ")[0] for line in output.splitlines()] == ["first", "second"]
    wait_for(lambda: JobResult.objects.filter(requeued_from__in=["first", "second"], status="succeeded").count() == 2,
             timeout=30, message="both requeued jobs to succeed")
    # Sent once: the next --failed leaves them alone.
    assert run("gearman_requeue", "--failed", "--task", "shop.outcomes.needs_file") == (
        "no failed jobs to requeue for shop.outcomes.needs_file\n")


def test_a_job_whose_task_was_renamed_is_refused_and_nothing_is_sent(db_backend, gearman_settings, gearman):
    JobResult.objects.create(job_id="renamed-1", task="shop.outcomes.old_name", function="shop.outcomes.old_name",
                             status="failed", payload=b'{"args":[],"kwargs":{}}', finished_at=timezone.now())
    total.submit_background([1])  # a row for a task that still exists
    [fine] = JobResult.objects.exclude(pk="renamed-1").values_list("job_id", flat=True)

    _, error = run_failing("gearman_requeue", fine, "renamed-1", "missing-1")
    assert str(error) == (
        "job renamed-1: no task named 'shop.outcomes.old_name' is defined in this project any more (renamed or "
        "removed?); no stored job 'missing-1'. Nothing was sent.")
    assert function_status(gearman_settings, "shop.outcomes.total").total == 1  # only the submit_background
    assert function_status(gearman_settings, "shop.outcomes.old_name") is None


@pytest.mark.parametrize("options", [[], ["--task", "x"], ["some-id", "--failed"]])
def test_requeue_needs_ids_or_failed(db_backend, options):
    _, error = run_failing("gearman_requeue", *options)
    assert "name the JOB_IDs to send again, or pass --failed" in str(error) or "--task goes with --failed" in str(
        error)


def test_prune_deletes_what_is_older_than_the_ttl(db_backend, settings):
    now = timezone.now()
    ago = lambda **age: now - datetime.timedelta(**age)  # noqa: E731
    for job_id, status, finished, last_seen in [
        ("old-done", "succeeded", ago(days=8), ago(days=8)),
        ("new-done", "failed", ago(hours=1), ago(hours=1)),
        ("lost", "running", None, ago(days=9)),
        ("running", "running", None, ago(seconds=5)),
    ]:
        JobResult.objects.create(job_id=job_id, task="t", function="t", status=status, payload=b"",
                                 finished_at=finished, last_attempted_at=last_seen, enqueued_at=last_seen)

    assert run("gearman_prune_results") == "deleted 2 job results older than 604800 s\n"  # a week by default
    assert sorted(JobResult.objects.values_list("job_id", flat=True)) == ["new-done", "running"]
    assert run("gearman_prune_results", "--ttl", "60") == "deleted 1 job result older than 60 s\n"
    settings.GEARMAN_RESULT_TTL = None
    _, error = run_failing("gearman_prune_results")
    assert str(error) == "GEARMAN_RESULT_TTL is None, so results are kept; pass --ttl SECONDS to prune anyway"
