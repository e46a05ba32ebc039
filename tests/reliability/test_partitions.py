"""Network partitions, made with network namespaces the test creates and removes (support.netns):
a worker cut off from gearmand mid-job reconnects by itself once the link is back and nothing
is lost, and a client whose one server is cut off keeps submitting to the other."""

from __future__ import annotations

import subprocess
import time

import pytest
from ledger.models import Effect
from support.databases import POSTGRESQL
from support.gearmand import point_settings_at, unique_ids
from support.ledger import RECORD_WHEN_RELEASED, runs
from support.reliability import Fleet, submit_records, wait_drained
from support.waiting import wait_for

from django_gearman import GearmanClient
from django_gearman.testing import serving_pids

pytestmark = pytest.mark.parametrize("db_backend", [POSTGRESQL], indirect=True)

#: gearmand probes a connection after 1 s of silence, twice a second apart: a worker cut off is
#: noticed in about 3 s and its job queued again. (Without keepalive gearmand waits for it until TCP
#: gives up on the connection, which for one with nothing unacknowledged in flight is never.)
KEEPALIVE = ("--keepalive", "--keepalive-idle=1", "--keepalive-interval=1", "--keepalive-count=2")
#: A submit waits this long for gearmand's acknowledgement before trying the next server.
SUBMIT_TIMEOUT = 1.0
UNSERVED = "nobody.serves.this"


def test_a_worker_cut_off_mid_job_reconnects_by_itself_and_nothing_is_lost(db_backend, network, start_worker,
                                                                           settings, figures, tmp_path):
    gearmand_side, worker_side = network.namespace("gearmand"), network.namespace("worker")
    link = network.link(gearmand_side, worker_side)
    gearmand = gearmand_side.start_gearmand(*KEEPALIVE)
    point_settings_at(settings, gearmand)  # the test reaches it through a relay that no cut touches
    started = time.monotonic()
    fleet = Fleet(start_worker, [link.address(gearmand)], db_backend, "--no-outbox", prefix=worker_side.exec_prefix,
                  registered_on=[gearmand])
    worker, = fleet.start()
    client = GearmanClient()
    release = tmp_path / "release"
    held = client.submit_job(RECORD_WHEN_RELEASED, args=[str(release)], background=True).job_id
    wait_for(lambda: runs("started")[held], message="the held job to start")
    # A cut while gearmand still waits for the worker to acknowledge the job would leave it
    # retransmitting for ~15 minutes (tcp_retries2), and keepalive would never start.
    wait_for(lambda: unacknowledged_bytes(gearmand_side, gearmand.port) == 0,
             message="the worker's kernel to acknowledge the job")

    link.cut()
    cut_at = time.monotonic()
    release.touch()  # it finishes during the cut (its database is reached by a unix socket): the reply vanishes
    wait_for(lambda: runs()[held], message="the held job's first run to finish")
    job_ids = submit_records(client, 300)  # queued meanwhile
    wait_for(lambda: worker.pid not in serving_pids(gearmand), timeout=30,
             message="gearmand to notice the worker is gone (keepalive) and queue the held job again")
    link.restore()
    cut_seconds = time.monotonic() - cut_at
    still_held = wait_drained([gearmand], timeout=60)

    figures.count([*job_ids, held], still_held).seconds = time.monotonic() - started
    figures.details.update(cut_seconds=round(cut_seconds, 1), held_job_runs=runs()[held],
                           worker_reconnects=worker.output.count("again"))
    assert worker.process.poll() is None and worker.pid in serving_pids(gearmand)  # the same process, back
    assert "connected to gearmand at" in worker.output and "again" in worker.output
    assert (figures.lost, still_held) == (0, 0)
    assert figures.duplicated == 1  # the held job: its first run's reply was lost in the cut
    assert set(Effect.objects.filter(kind="done").values_list("pid", flat=True)) == {worker.pid}


def unacknowledged_bytes(namespace, port: int) -> int:
    """Bytes gearmand (listening on `port` in `namespace`) has sent over its links and not had
    acknowledged (the Send-Q of `ss`); its connections through the test's relay do not count."""
    listing = subprocess.run([*namespace.exec_prefix, "ss", "-tnH", "state", "established"], capture_output=True,
                             text=True, check=True, timeout=10).stdout
    return sum(int(send_queue) for _, send_queue, local, _ in (line.split()[:4] for line in listing.splitlines())
               if local.endswith(f":{port}") and not local.startswith("127.0.0.1:"))


def test_a_client_keeps_submitting_to_the_other_server_while_one_is_cut_off(db_backend, network, settings,
                                                                            figures):
    first_side, second_side, client_side = (network.namespace(label) for label in ("first", "second", "client"))
    first_link, second_link = network.link(first_side, client_side), network.link(second_side, client_side)
    first, second = first_side.start_gearmand(), second_side.start_gearmand()
    settings.GEARMAN_SUBMIT_TIMEOUT = SUBMIT_TIMEOUT
    started = time.monotonic()

    def submit_through_a_cut():
        """In the client's namespace: jobs before, during and after the first server's cut."""
        client = GearmanClient(servers=[first_link.address(first), second_link.address(second)])

        def submit(count):
            jobs = []
            for _ in range(count):
                began = time.monotonic()
                handle = client.submit_job(UNSERVED, data=b"x", background=True)
                jobs.append((handle, time.monotonic() - began))
            return jobs

        before = submit(100)
        first_link.cut()
        during = submit(300)
        first_link.restore()
        return before, during

    before, during = client_side.call(submit_through_a_cut)
    on_first = set(unique_ids(first))
    stalled = {handle.job_id for handle, seconds in during if seconds >= SUBMIT_TIMEOUT / 2}

    figures.sent = len(before) + len(during)
    figures.run = len(on_first | set(unique_ids(second)))  # here: queued, as nothing serves them
    figures.lost = figures.sent - figures.run
    figures.duplicated = len(on_first & set(unique_ids(second)))
    figures.seconds = time.monotonic() - started
    figures.details.update(during_cut=len(during), stalled_on_the_cut_server=len(stalled),
                           slowest_submit_seconds=round(max(seconds for _, seconds in during), 2))
    assert {handle.server for handle, _ in before} == {first_link.address(first), second_link.address(second)}
    assert {handle.server for handle, _ in during} == {second_link.address(second)}  # every one succeeded there
    assert figures.lost == 0
    # A submit sent to the cut server before it gave up may still reach it later: the only duplicates.
    assert on_first & set(unique_ids(second)) <= stalled
