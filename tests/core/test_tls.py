"""GEARMAN_TLS: validated settings, and clients, workers and gearman_server_info through a real stunnel4."""

from __future__ import annotations

import json

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from support.commands import parse_tables, run, run_failing
from support.gearmand import point_settings_at

from django_gearman import GearmanClient, conf
from django_gearman.exceptions import GearmanPayloadTooLarge, GearmanServerUnavailable


def tls_setting(certificates, **changes) -> dict:
    setting = {"ca_file": str(certificates.ca_file), "cert_file": str(certificates.client_cert),
               "key_file": str(certificates.client_key)}
    return {**setting, **changes}


def tls_problems() -> list[str]:
    return [message.msg for message in run_checks() if message.id == "django_gearman.E009"]


def test_a_complete_setting_passes_and_builds_one_context(settings, certificates):
    settings.GEARMAN_TLS = tls_setting(certificates, server_hostname="gearman.test")
    assert tls_problems() == []
    current = conf.get()
    assert current.tls_options == {"ssl_context": current.ssl_context, "server_hostname": "gearman.test"}
    assert current.ssl_context.verify_mode.name == "CERT_REQUIRED"
    settings.GEARMAN_TLS = {"ca_file": str(certificates.ca_file)}  # only ca_file is required
    assert tls_problems() == []


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"ca_file": None}, "GEARMAN_TLS['ca_file'] must be a path, not NoneType."),
        ({"ca_file": "/nonexistent/ca.pem"}, "GEARMAN_TLS['ca_file'] '/nonexistent/ca.pem' is not a file."),
        ({"cert_file": "/tmp"}, "GEARMAN_TLS['cert_file'] '/tmp' is not a file."),
        ({"verify": False}, "GEARMAN_TLS has unknown keys ['verify']."),
        ({"server_hostname": ""}, "GEARMAN_TLS['server_hostname'] must be a host name, not ''."),
    ],
    ids=["not-a-path", "missing-file", "a-directory", "unknown-key", "empty-hostname"],
)
def test_a_bad_setting_is_one_error_naming_it(settings, certificates, changes, problem):
    settings.GEARMAN_TLS = tls_setting(certificates, **changes)
    assert tls_problems() == [problem]
    with pytest.raises(ImproperlyConfigured, match=r"\(django_gearman\.E009\)"):
        conf.get()


def test_a_setting_without_ca_file_or_with_a_lone_key_file_is_refused(settings, certificates):
    settings.GEARMAN_TLS = {"key_file": str(certificates.client_key)}
    assert tls_problems() == [
        "GEARMAN_TLS has no 'ca_file', the CA certificates to verify servers against.",
        "GEARMAN_TLS has a 'key_file' but no 'cert_file' for it.",
    ]


def test_files_that_do_not_load_are_named(settings, certificates, tmp_path):
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    settings.GEARMAN_TLS = tls_setting(certificates, ca_file=str(not_pem))
    [problem] = tls_problems()
    assert problem.startswith(f"GEARMAN_TLS: cannot load ca_file '{not_pem}': ")
    settings.GEARMAN_TLS = tls_setting(certificates, key_file=str(certificates.stranger_key))
    assert tls_problems() == [
        f"GEARMAN_TLS: cannot load cert_file '{certificates.client_cert}' with key_file "
        f"'{certificates.stranger_key}': KEY_VALUES_MISMATCH."
    ]


@pytest.fixture
def tls_settings(settings, stunnel, certificates):
    """Django settings for the test's stunnel, with the test client certificate."""
    point_settings_at(settings, stunnel)
    settings.GEARMAN_TLS = tls_setting(certificates)
    return settings


def test_a_job_runs_end_to_end_through_stunnel(tls_settings, stunnel, certificates, start_worker):
    worker = start_worker("-a", "shop", "-n", "worker", servers=[stunnel.upstream],
                          env={"GEARMAN_SERVERS": stunnel.address, "GEARMAN_TLS": json.dumps(tls_settings.GEARMAN_TLS)})
    client = GearmanClient()
    assert client.submit_job("shop.worker.add", args=[2, 3], poll_timeout=30) == 5
    assert client.submit_job("shop.worker.whoami", poll_timeout=30) == worker.pid  # that worker, through TLS
    client.close()
    # Both ends presented the client certificate the terminator demands.
    assert stunnel.log().count("Certificate accepted at depth=0: CN=client") >= 2


def test_gearman_server_info_through_stunnel(tls_settings, stunnel, start_worker):
    start_worker("-a", "shop", "-n", "worker", servers=[stunnel.upstream],
                 env={"GEARMAN_SERVERS": stunnel.address, "GEARMAN_TLS": json.dumps(tls_settings.GEARMAN_TLS)})
    hosts, tasks, workers = parse_tables(run("gearman_server_info"))
    assert [host["Gearman Server Host"] for host in hosts] == [stunnel.address]
    assert hosts[0]["Gearman Server Version"].startswith("1.1.")
    assert "shop.worker.add" in {task["Task Name"] for task in tasks}
    assert len(workers) == 1


def test_a_wrong_ca_is_refused_with_a_clear_error(tls_settings, stunnel, certificates):
    tls_settings.GEARMAN_TLS = tls_setting(certificates, ca_file=str(certificates.other_ca_file))
    reason = (f"TLS handshake with gearmand at {stunnel.address} failed: the server's certificate was not accepted: "
              "self-signed certificate in certificate chain (it is not signed by a CA this client trusts)")

    with pytest.raises(GearmanServerUnavailable) as refused:
        GearmanClient().submit_job("shop.worker.add", args=[2, 3], poll_timeout=10)
    assert str(refused.value).endswith(f": {reason}")  # no server took the job, and why
    output, error = run_failing("gearman_server_info", "--json")
    assert json.loads(output)["servers"][0]["error"] == reason
    assert str(error) == f"1 of 1 servers did not answer: {stunnel.address}"


def test_the_client_refuses_job_data_over_gearman_max_payload_size(gearman_settings, settings):
    settings.GEARMAN_MAX_PAYLOAD_SIZE = 100
    with pytest.raises(GearmanPayloadTooLarge, match="job data for 'shop.worker.echo' is 1[0-9]{2} bytes, more than"):
        GearmanClient().submit_job("shop.worker.echo", args=["x" * 100], background=True)
