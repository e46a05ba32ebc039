"""The result store's jobs in the admin (Django's test client): the list, its filters and search,
a job's page, delete, and requeue, which sends the job to a real gearmand as gearman_requeue does."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from support.gearmand import total_jobs
from support.users import staff_user

from django_gearman import GearmanClient, GearmanJobFailed
from django_gearman.models import JobResult

JOBS = "/admin/django_gearman/jobresult/"


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
