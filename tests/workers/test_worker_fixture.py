"""The shipped `gearman_worker` fixtures, used by this suite on testproject (tests/workers/
test_worker_fixture_fresh_project.py runs them in a project of their own)."""

import os

from shop.gearman_workers.mail import send_email
from shop.gearman_workers.worker import add, whoami

from django_gearman.protocol import AdminClient


def test_the_gearman_worker_fixture_serves_every_task_of_the_project(gearman_worker, gearmand):
    assert add.submit(2, 3) == 5
    assert whoami.submit() == gearman_worker.pid != os.getpid()
    assert send_email.submit("a@example.com", "hi", "body") == 1
    with AdminClient(gearmand.address) as admin:
        [listed] = [worker for worker in admin.workers() if worker.functions]
    assert listed.client_id.endswith(f":{gearman_worker.pid}:all")


def test_workers_get_the_settings_the_test_changed(gearman_worker_factory, gearmand, settings):
    settings.GEARMAN_TASK_PREFIX = "fixture."
    worker = gearman_worker_factory("-a", "shop", "-n", "worker")
    assert add.submit(4, 5) == 9
    with AdminClient(gearmand.address) as admin:
        assert {row.function for row in admin.status()} >= {"fixture.shop.worker.add"}
    assert worker.stop() == 0
