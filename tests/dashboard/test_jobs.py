"""The result store's jobs in the admin (Django's test client): the list, its filters and search,
a job's page, delete, requeue, which sends the job to a real gearmand as gearman_requeue does, and
the job lookup showing a stored result, by job id and by handle, of jobs real workers ran."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.utils import timezone
from support.gearmand import total_jobs
from support.users import staff_user
from support.waiting import wait_for
from support.workers import release

from django_gearman import GearmanClient, GearmanJobFailed
from django_gearman.models import JobResult

JOBS = "/admin/django_gearman/jobresult/"
JOB_JSON = "/admin/django_gearman/joblookup/status.json"


def staff(client, *permissions: str) -> User:
    user = staff_user("ops", *permissions)
    client.force_login(user)
    return user


@pytest.fixture
def stored_jobs(db, settings):
    """Jobs run here (eager mode) with the result store on: one succeeded, one failed; the ids of both."""
    settings.GEARMAN_STORE_RESULTS = True
    settings.GEARMAN_ALWAYS_EAGER = True
    client = GearmanClient()
    client.submit_job("shop.worker.add", args=[2, 3], unique="added")
    with pytest.raises(GearmanJobFailed):
        client.submit_job("shop.worker.fail", args=["out of stock"], unique="refused")
    settings.GEARMAN_ALWAYS_EAGER = False
    return "added", "refused"


def listed(response) -> list[str]:
    return [row.job_id for row in response.context["cl"].result_list]


def test_the_list_filters_by_status_and_task_and_searches_by_job_id_or_handle(stored_jobs, client):
    staff(client, "view_jobresult")
    handle = JobResult.objects.get(pk="refused").handle

    assert listed(client.get(JOBS)) == ["refused", "added"]
    assert listed(client.get(JOBS, {"status__exact": "failed"})) == ["refused"]
    assert listed(client.get(JOBS, {"task": "shop.worker.add"})) == ["added"]
    assert listed(client.get(JOBS, {"q": "refused"})) == ["refused"]
    assert listed(client.get(JOBS, {"q": handle})) == ["refused"]
    assert listed(client.get(JOBS, {"q": "refu"})) == []  # ids are matched whole,
    assert listed(client.get(JOBS, {"q": "REFUSED"})) == []  # and exactly, as gearmand compares them


def test_a_failed_job_s_page_shows_its_call_error_and_traceback(stored_jobs, client):
    staff(client, "view_jobresult")

    page = client.get(f"{JOBS}refused/change/").content.decode()

    assert "<code>shop.worker.fail(&#x27;out of stock&#x27;)</code>" in page
    assert "ValueError" in page and "out of stock" in page
    assert "raise ValueError(message)" in page  # the traceback
    assert 'href="/admin/django_gearman/joblookup/?job=refused"' in page
    assert "Requeue</button>" not in page  # no requeue permission
    assert 'name="_save"' not in page  # read-only


def test_a_succeeded_job_s_page_shows_its_return_value(stored_jobs, client):
    staff(client, "view_jobresult", "requeue_jobresult")

    page = client.get(f"{JOBS}added/change/").content.decode()

    assert "<code>shop.worker.add(2, 3)</code>" in page and "<pre>5</pre>" in page
    assert "Requeue</button>" not in page  # it did not fail


def test_requeue_sends_a_failed_job_again_with_a_new_id(stored_jobs, client, gearman_settings):
    staff(client, "view_jobresult", "requeue_jobresult", "view_joblookup")
    assert "Requeue</button>" in client.get(f"{JOBS}refused/change/").content.decode()

    response = client.post(f"{JOBS}refused/requeue/")

    [again] = JobResult.objects.filter(requeued_from="refused")
    assert response.url == f"/admin/django_gearman/joblookup/?job={again.job_id}"
    assert (again.status, again.task, again.attempts) == ("queued", "shop.worker.fail", 0)
    assert total_jobs(gearman_settings, "shop.worker.fail") == 1  # in gearmand, for a worker to run
    report = client.get(JOB_JSON, {"job": again.job_id}).json()
    assert (report["stored"]["status"], report["stored"]["requeued_from"]) == ("queued", "refused")
    # No worker has taken it: no handle to ask gearmand by yet, and the page goes on asking.
    assert (report["handle"], report["status"], report["finished"]) == (None, None, False)
    assert f'<a href="/admin/django_gearman/jobresult/{again.job_id}/change/">{again.job_id}</a>' in client.get(
        f"{JOBS}refused/change/").content.decode()  # "requeued as"


def test_the_requeue_action_sends_only_the_failed_jobs(stored_jobs, client, gearman_settings):
    staff(client, "view_jobresult", "requeue_jobresult")

    response = client.post(JOBS, {"action": "requeue_failed", "_selected_action": list(stored_jobs)}, follow=True)

    texts = [str(message) for message in response.context["messages"]]
    assert texts[0] == "1 selected jobs did not fail and were not sent again."
    assert texts[1].startswith("Job refused sent again as")
    assert JobResult.objects.filter(requeued_from="refused").count() == 1
    assert JobResult.objects.filter(requeued_from="added").count() == 0
    assert total_jobs(gearman_settings, "shop.worker.fail") == 1


def test_requeue_needs_its_permission(stored_jobs, client, gearman_settings):
    staff(client, "view_jobresult", "delete_jobresult")

    actions = client.get(JOBS).context["action_form"].fields["action"].choices

    assert [name for name, _ in actions] == ["", "delete_selected"]
    assert client.post(f"{JOBS}refused/requeue/").status_code == 403
    assert client.get(f"{JOBS}refused/requeue/").status_code == 405  # only ever a POST
    assert total_jobs(gearman_settings, "shop.worker.fail") == 0


def test_a_job_that_cannot_be_sent_again_is_named_and_nothing_is_sent(stored_jobs, client, gearman_settings):
    staff(client, "view_jobresult", "requeue_jobresult")
    JobResult.objects.filter(pk="refused").update(task="shop.worker.renamed")

    response = client.post(f"{JOBS}refused/requeue/", follow=True)

    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith("Not requeued: job refused: no task named 'shop.worker.renamed'")
    assert message.endswith("Nothing was sent.")
    assert response.redirect_chain == [(f"{JOBS}refused/change/", 302)]
    assert total_jobs(gearman_settings, "shop.worker.renamed") == 0
    assert not JobResult.objects.filter(requeued_from="refused").exists()


def test_a_gearmand_that_does_not_answer_is_named(stored_jobs, client, refused_address, settings):
    staff(client, "view_jobresult", "requeue_jobresult")
    settings.GEARMAN_SERVERS = [refused_address]

    response = client.post(f"{JOBS}refused/requeue/", follow=True)

    [message] = [str(message) for message in response.context["messages"]]
    assert message.startswith("Requeueing stopped: ") and refused_address in message
    assert not JobResult.objects.filter(requeued_from="refused").exists()  # no row for a job never sent


def test_delete_needs_its_permission(stored_jobs, client):
    user = staff(client, "view_jobresult")
    assert client.post(JOBS, {"action": "delete_selected", "_selected_action": ["added"], "post": "yes"}
                       ).status_code == 200  # the list again: no such action for this user
    assert JobResult.objects.filter(pk="added").exists()
    user.user_permissions.add(Permission.objects.get(codename="delete_jobresult"))
    client.post(JOBS, {"action": "delete_selected", "_selected_action": ["added"], "post": "yes"})
    assert not JobResult.objects.filter(pk="added").exists()


# -- the job lookup ------------------------------------------------------------------------


def test_job_lookup_by_id_shows_the_stored_result(stored_jobs, client):
    staff(client, "view_joblookup", "view_jobresult")

    report = client.get(JOB_JSON, {"job": "added"}).json()
    failed = client.get(JOB_JSON, {"job": "refused"}).json()["stored"]

    assert report["finished"] is True
    assert report["status"] is None  # final in the store: gearmand is not asked
    stored = report["stored"]
    assert (stored["status"], stored["value"], stored["call"]) == ("succeeded", "5", "shop.worker.add(2, 3)")
    assert stored["admin_url"] == "/admin/django_gearman/jobresult/added/change/"
    assert (failed["status"], failed["value"], failed["error"]["type"]) == ("failed", None, "ValueError")
    unknown = client.get(JOB_JSON, {"job": "no-such-job"}).json()
    assert "no job has the id 'no-such-job' in the result store, and it is not a job handle" in unknown["error"]
    assert unknown["finished"] is True


def test_job_lookup_links_to_the_job_s_page_only_for_who_may_view_it(stored_jobs, client):
    staff(client, "view_joblookup")
    assert "admin_url" not in client.get(JOB_JSON, {"job": "added"}).json()["stored"]


def test_a_job_run_by_a_worker_is_looked_up_live_then_by_its_stored_result(
        db_backend, settings, gearman_settings, start_worker, client, tmp_path):
    settings.GEARMAN_STORE_RESULTS = True
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings],
                 env={**db_backend.env, "GEARMAN_STORE_RESULTS": "1"})
    staff(client, "view_joblookup")
    flag = tmp_path / "flag"
    handle = GearmanClient().submit_job("shop.worker.report_and_wait", args=[3, 10, str(flag)], background=True)

    def reported(job):
        report = client.get(JOB_JSON, {"job": job}).json()
        return report if report["status"] and report["status"]["running"] and report["status"]["numerator"] else None

    running = wait_for(lambda: reported(handle.job_id), timeout=30, message="the job running, by its id")
    assert running["handle"] == str(handle)
    assert running["status"] == {"known": True, "running": True, "numerator": 3, "denominator": 10}
    assert (running["stored"]["status"], running["stored"]["attempts"], running["finished"]) == ("running", 1, False)
    by_handle = reported(str(handle))
    assert (by_handle["stored"]["job_id"], by_handle["stored"]["status"]) == (handle.job_id, "running")

    release(flag)
    wait_for(lambda: client.get(JOB_JSON, {"job": handle.job_id}).json()["finished"], timeout=30,
             message="the job done")

    for job in (handle.job_id, str(handle)):
        report = client.get(JOB_JSON, {"job": job}).json()
        assert (report["finished"], report["error"]) == (True, None), job
        assert (report["stored"]["job_id"], report["stored"]["status"], report["stored"]["value"]) == (
            handle.job_id, "succeeded", "'done'"), job


def test_a_handle_gearmand_gave_out_again_is_not_an_earlier_job_s(db, gearman_settings, client):
    staff(client, "view_joblookup")
    handle = GearmanClient().submit_job("nobody.serves.this", data=b"x", background=True)
    now = timezone.now()
    JobResult.objects.create(job_id="before-a-restart", task="shop.worker.add", function="shop.worker.add",
                             status="succeeded", return_value=5, attempts=1, handle=str(handle),
                             last_attempted_at=now, finished_at=now)

    report = client.get(JOB_JSON, {"job": str(handle)}).json()

    assert report["status"]["known"] is True and report["stored"] is None
    assert report["finished"] is False


def test_job_lookup_says_when_the_result_store_cannot_be_read(db, gearman_settings, client):
    staff(client, "view_joblookup")
    with connection.cursor() as cursor:  # as if not migrated yet; the test's transaction puts it back
        cursor.execute("ALTER TABLE django_gearman_jobresult RENAME TO django_gearman_jobresult_away")

    report = client.get(JOB_JSON, {"job": "some-job"}).json()

    assert report["error"].startswith("the result store could not be read (OperationalError: no such table")
    assert report["finished"] is True
