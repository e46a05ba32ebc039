"""max_payload_size: what a client will send and take, what a worker will take and return."""

from __future__ import annotations

import pytest
from support.gearmand import function_status
from support.protocol import wait_registered

from django_gearman.protocol import Client, GearmanJobFailed, GearmanPayloadTooLarge, JobRequest

LIMIT = 1000


def test_a_client_refuses_to_send_job_data_over_its_limit(gearmand):
    client = Client([gearmand.address], max_payload_size=LIMIT)
    with pytest.raises(GearmanPayloadTooLarge,
                       match=f"job data for 'f' is 1001 bytes, more than the limit of {LIMIT} bytes"):
        client.submit_job("f", b"x" * (LIMIT + 1), background=True, poll_timeout=10)
    assert function_status(gearmand, "f") is None  # nothing was sent

    over, fits = JobRequest("g", b"x" * (LIMIT + 1), background=True), JobRequest("g", b"x" * LIMIT, background=True)
    client.submit_multiple_jobs([over, fits], poll_timeout=10)
    assert isinstance(over.error, GearmanPayloadTooLarge) and over.handle is None
    assert fits.outcome().server == gearmand.address
    assert function_status(gearmand, "g").total == 1
    client.close()


def test_a_client_refuses_a_result_over_its_limit_and_keeps_its_connection(gearmand, run_worker):
    run_worker([gearmand], {"repeat": lambda job: job.data * 2})
    client = Client([gearmand.address], max_payload_size=LIMIT)

    with pytest.raises(GearmanPayloadTooLarge,
                       match=rf"WORK_COMPLETE of job H:\S+ from {gearmand.address}: 1200 bytes, more than the limit"):
        client.submit_job("repeat", b"x" * 600, poll_timeout=10)
    (channel,) = client._state().channels.values()
    assert client.submit_job("repeat", b"ok", poll_timeout=10) == b"okok"
    assert client._state().channels[channel.address] is channel  # the same connection, still in step
    client.close()


def test_a_worker_fails_a_job_over_its_limit_and_goes_on(client, gearmand, run_worker):
    worker = run_worker([gearmand], {"reverse": lambda job: job.data[::-1]}, max_payload_size=LIMIT)
    wait_registered(gearmand, "reverse")

    with pytest.raises(GearmanJobFailed, match="refused by the worker: the job data is 1001 bytes, more than"):
        client.submit_job("reverse", b"x" * (LIMIT + 1), poll_timeout=10)
    assert client.submit_job("reverse", b"abc", poll_timeout=10) == b"cba"
    assert worker.is_alive()


def test_a_worker_fails_a_job_whose_result_is_over_its_limit_and_goes_on(client, gearmand, run_worker):
    worker = run_worker([gearmand], {"repeat": lambda job: job.data * 2}, max_payload_size=LIMIT)
    wait_registered(gearmand, "repeat")

    with pytest.raises(GearmanJobFailed, match=r"GearmanPayloadTooLarge: the result of <Job [^>]+> is 1200 bytes"):
        client.submit_job("repeat", b"x" * 600, poll_timeout=10)
    assert client.submit_job("repeat", b"ok", poll_timeout=10) == b"okok"
    assert worker.is_alive()
