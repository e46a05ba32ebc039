"""A gearmand that accepts connections and does not answer (SIGSTOPped, as an overloaded or
swapped-out server looks): among two servers, submits keep succeeding on the other one,
each within the submit deadline."""

from __future__ import annotations

import os
import signal
import time

import pytest
from support.databases import POSTGRESQL
from support.gearmand import unique_ids

from django_gearman import GearmanClient

pytestmark = pytest.mark.parametrize("db_backend", [POSTGRESQL], indirect=True)

SUBMIT_TIMEOUT = 1.0
UNSERVED = "nobody.serves.this"


def test_submits_go_to_the_other_server_while_one_is_stopped(db_backend, gearmand_factory, settings, figures):
    stopped, running = gearmand_factory(), gearmand_factory()
    settings.GEARMAN_SUBMIT_TIMEOUT = SUBMIT_TIMEOUT
    client = GearmanClient(servers=[stopped.address, running.address])
    started = time.monotonic()
    before = [client.submit_job(UNSERVED, data=b"x", background=True) for _ in range(100)]

    os.kill(stopped.pid, signal.SIGSTOP)
    try:
        during = []
        for _ in range(300):
            began = time.monotonic()
            during.append((client.submit_job(UNSERVED, data=b"x", background=True), time.monotonic() - began))
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
    queued_before = {handle.job_id for handle in before if handle.server == stopped.address}
    # Once it runs again it reads what was sent while it was stopped: those jobs are queued there too.
    on_stopped = set(unique_ids(stopped))
    stalled = {handle.job_id for handle, seconds in during if seconds >= SUBMIT_TIMEOUT / 2}

    figures.sent = len(before) + len(during)
    figures.run = len(on_stopped | set(unique_ids(running)))  # queued: nothing serves them
    figures.lost = figures.sent - figures.run
    figures.duplicated = len(on_stopped & set(unique_ids(running)))
    figures.seconds = time.monotonic() - started
    figures.details.update(during_stop=len(during), stalled=len(stalled),
                           slowest_submit_seconds=round(max(seconds for _, seconds in during), 2))
    assert {handle.server for handle, _ in during} == {running.address}
    assert figures.lost == 0
    assert on_stopped - queued_before <= stalled  # the only jobs in both places: those it may have taken
