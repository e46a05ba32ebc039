"""Clients, workers and admin connections speaking TLS to a real stunnel4 in front of gearmand."""

from __future__ import annotations

import logging
import random
import re

import pytest
from support.protocol import wait_registered
from support.tls import SERVER_NAME, client_context
from support.waiting import wait_for

from django_gearman.protocol import (
    AdminClient,
    Client,
    GearmanServerUnavailable,
    GearmanTLSError,
    JobRequest,
)
from django_gearman.protocol import connection as connection_module

PAYLOAD = random.Random(7).randbytes(3 * 1024 * 1024)  # about 200 TLS records each way


def reverse(job):
    return job.data[::-1]


def test_jobs_run_through_stunnel_with_client_certificates_on_both_sides(stunnel, tls_context, run_worker):
    run_worker([stunnel], {"reverse": reverse}, ssl_context=tls_context)
    wait_registered(stunnel.upstream, "reverse")
    client = Client([stunnel.address], ssl_context=tls_context)

    assert client.submit_job("reverse", b"over tls", poll_timeout=10) == b"slt revo"
    assert client.submit_job("reverse", PAYLOAD, poll_timeout=30) == PAYLOAD[::-1]
    requests = [JobRequest("reverse", b"%d" % n) for n in range(200)]
    client.submit_multiple_jobs(requests, poll_timeout=30)
    assert [request.outcome() for request in requests] == [request.data[::-1] for request in requests]
    client.close()
    # The terminator checked the certificate of both peers (worker and client).
    assert stunnel.log().count("Certificate accepted at depth=0: CN=client") >= 2


def test_reads_smaller_than_a_tls_record_leave_nothing_unseen(monkeypatch, gearmand_factory, start_stunnel,
                                                              tls_context, run_worker):
    # recv() of less than a record leaves decrypted bytes in the SSL object while the
    # socket shows nothing to read: the worker's selector and the client's would wait forever.
    monkeypatch.setattr(connection_module, "RECV_SIZE", 1000)
    tunnels = [start_stunnel(gearmand_factory()) for _ in range(2)]
    run_worker(tunnels, {"reverse": reverse}, ssl_context=tls_context)
    for tunnel in tunnels:
        wait_registered(tunnel.upstream, "reverse")
    client = Client([tunnel.address for tunnel in tunnels], ssl_context=tls_context)
    requests = [JobRequest("reverse", PAYLOAD[n * 30_000 : (n + 1) * 30_000]) for n in range(20)]
    client.submit_multiple_jobs(requests, poll_timeout=30)
    assert {request.handle.server for request in requests} == {tunnel.address for tunnel in tunnels}
    assert [request.outcome() for request in requests] == [request.data[::-1] for request in requests]
    client.close()


def test_admin_commands_through_stunnel(stunnel, tls_context, run_worker):
    run_worker([stunnel], {"reverse": reverse}, ssl_context=tls_context, client_id="tls-worker")
    wait_registered(stunnel.upstream, "reverse")
    with AdminClient(stunnel.address, ssl_context=tls_context) as admin:
        assert admin.version().startswith("1.1")
        assert admin.ping() > 0
        assert [(row.function, row.available_workers) for row in admin.status()] == [("reverse", 1)]
        assert [worker.client_id for worker in admin.workers() if worker.functions] == ["tls-worker"]


def test_a_server_certificate_from_another_ca_is_refused_naming_server_and_reason(stunnel, certificates, caplog,
                                                                                   run_worker):
    wrong_ca = client_context(certificates.other_ca_file, certificates.client_cert, certificates.client_key)
    reason = (f"TLS handshake with gearmand at {stunnel.address} failed: the server's certificate was not accepted: "
              "self-signed certificate in certificate chain (it is not signed by a CA this client trusts)")

    with pytest.raises(GearmanTLSError) as refused:
        AdminClient(stunnel.address, ssl_context=wrong_ca)
    assert str(refused.value) == reason
    with pytest.raises(GearmanServerUnavailable, match=re.escape(f": {reason}")):
        Client([stunnel.address], ssl_context=wrong_ca).submit_job("reverse", b"", poll_timeout=5)

    caplog.set_level(logging.WARNING, logger="django_gearman.protocol.worker")
    run_worker([stunnel], {"reverse": reverse}, ssl_context=wrong_ca)
    wait_for(lambda: reason in caplog.text, message="the worker to log why it cannot connect")


@pytest.mark.parametrize("holder", ["nobody", "stranger"])
def test_a_missing_or_untrusted_client_certificate_is_refused_naming_the_reason(stunnel, certificates, holder):
    context = (client_context(certificates.ca_file) if holder == "nobody"
               else client_context(certificates.ca_file, certificates.stranger_cert, certificates.stranger_key))
    # stunnel's alert names the fault, unless the reset that follows it overtakes it.
    expected = {
        "nobody": "the server requires a client certificate, and none was sent",
        "stranger": "the server does not trust the CA that signed this client's certificate",
    }[holder]
    with pytest.raises(GearmanTLSError) as refused:
        AdminClient(stunnel.address, ssl_context=context)
    assert str(refused.value) in (
        f"TLS with gearmand at {stunnel.address} failed: {expected}",
        f"gearmand at {stunnel.address} closed the connection right after the TLS handshake: the server requires "
        "a client certificate, or refused this one (its log says which)",
    )


def test_server_hostname_is_what_the_certificate_must_name(stunnel, tls_context):
    with AdminClient(stunnel.address, ssl_context=tls_context, server_hostname=SERVER_NAME) as admin:
        assert admin.version()
    with pytest.raises(GearmanTLSError, match="Hostname mismatch, certificate is not valid for 'other.test'"):
        AdminClient(stunnel.address, ssl_context=tls_context, server_hostname="other.test")


def test_tls_to_a_plaintext_gearmand_says_it_may_not_be_a_tls_port(gearmand, tls_context):
    with pytest.raises(GearmanTLSError, match=rf"gearmand at {gearmand.address} failed: .*\(is it a TLS port\?\)"):
        AdminClient(gearmand.address, ssl_context=tls_context)
