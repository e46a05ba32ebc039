"""The worker's Django signals, observed through testproject's shop/signals.py receivers."""

import re
import signal

import pytest
from support.workers import submit

from django_gearman import GearmanJobFailed


def test_hooks_run_in_order_with_their_arguments(gearmand, start_worker, hooks):
    worker = start_worker("-a", "shop", "-n", "worker", servers=[gearmand], env=hooks.env)
    assert submit(gearmand, "shop.worker.add", 2, 3) == 5
    with pytest.raises(GearmanJobFailed, match="boom"):
        submit(gearmand, "shop.worker.fail", "boom")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0

    started, add_started, add_finished, fail_started, fail_failed, stopping = hooks.entries(worker.pid)
    assert started == {"pid": worker.pid, "signal": "worker_started", "sender": "<GearmanWorker shop.worker>"}
    assert stopping == {"pid": worker.pid, "signal": "worker_stopping", "sender": "<GearmanWorker shop.worker>"}
    assert add_started["signal"] == "task_started"
    assert add_started["sender"] == add_finished["sender"] == "<Task shop.worker.add>"
    assert add_started["job"] == add_finished["job"]
    assert re.fullmatch(r"<Job H:\S+ shop\.worker\.add id=[0-9a-f]{32}>", add_started["job"])  # id: a UUID4 hex
    assert add_finished["signal"] == "task_finished"
    assert add_finished["result"] == "5"  # the return value, not its encoding
    assert (fail_started["signal"], fail_started["sender"]) == ("task_started", "<Task shop.worker.fail>")
    assert fail_failed["signal"] == "task_failed"
    assert fail_failed["exception"] == "ValueError('boom')"
    assert fail_failed["job"] == fail_started["job"] != add_started["job"]
