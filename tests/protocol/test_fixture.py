"""The `gearmand` and `gearmand_factory` pytest fixtures from django_gearman.testing."""

from __future__ import annotations

import pytest
from support.processes import process_exists

from django_gearman import testing
from django_gearman.protocol import AdminClient, Client
from django_gearman.testing import GearmandFactory, GearmandServer, StunnelServer

pytest_plugins = ["pytester"]


def test_gearmand_fixture_serves_on_loopback(gearmand):
    assert gearmand.host == "127.0.0.1"
    assert gearmand.address == str(gearmand) == f"127.0.0.1:{gearmand.port}"
    assert gearmand.answers()
    with AdminClient(gearmand.address) as admin:
        assert admin.getpid() == gearmand.pid


def test_factory_starts_independent_servers(gearmand_factory):
    first, second = gearmand_factory(), gearmand_factory()
    assert first.port != second.port
    Client([first.address]).submit_job("only-on-first", b"", background=True, poll_timeout=10)
    with AdminClient(second.address) as admin:
        assert admin.status() == []


def test_factory_passes_gearmand_options(gearmand_factory, tmp_path):
    """With a sqlite queue, background jobs survive a restart: proof the options reached gearmand."""
    server = gearmand_factory("-q", "libsqlite3", f"--libsqlite3-db={tmp_path / 'queue.sqlite'}")
    # Not empty: gearmand 1.1.20 stores empty data in a way it then cannot reload,
    # and refuses to start ("column 3 is not type TEXT").
    handle = Client([server.address]).submit_job("kept", b"payload", background=True, poll_timeout=10)
    server.restart()
    with AdminClient(server.address) as admin:
        assert [job.handle for job in admin.show_jobs()] == [handle.handle]


def test_restart_keeps_the_port_and_replaces_the_process(gearmand):
    port, old_pid = gearmand.port, gearmand.pid
    gearmand.restart()
    assert gearmand.port == port
    assert gearmand.pid != old_pid
    assert not process_exists(old_pid)
    assert gearmand.answers()


def test_kill_stops_the_process_at_once(gearmand):
    pid = gearmand.pid
    gearmand.kill()
    assert gearmand.pid is None
    assert not process_exists(pid)
    assert not gearmand.answers()
    gearmand.restart()  # a crashed server can be brought back on its port
    assert gearmand.answers()


def test_stop_all_stops_exactly_the_servers_it_started(tmp_path, gearmand):
    factory = GearmandFactory(str(tmp_path))
    servers = [factory(), factory()]
    pids = [server.pid for server in servers]
    try:
        assert all(map(process_exists, pids))
    finally:
        factory.stop_all()
    assert not any(map(process_exists, pids))
    assert gearmand.answers()  # someone else's server is untouched


def test_stop_is_idempotent(tmp_path):
    server = GearmandServer(log_dir=str(tmp_path)).start()
    server.stop()
    server.stop()
    assert server.pid is None


def test_a_bad_option_reports_gearmands_complaint(tmp_path):
    server = GearmandServer("--no-such-option", log_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="gearmand exited with"):
        server.start()


@pytest.fixture
def no_gearmand(monkeypatch):
    monkeypatch.setattr(testing.shutil, "which", lambda name: None)
    monkeypatch.setattr(testing, "SBIN_DIRECTORIES", ("/nonexistent",))


def test_missing_gearmand_names_the_install_command(no_gearmand):
    with pytest.raises(RuntimeError, match="sudo apt-get install -y gearman-job-server gearman-tools"):
        testing.find_gearmand()


@pytest.mark.parametrize("fixture", ["gearmand", "gearmand_factory"])
def test_the_fixtures_fail_with_the_install_command_not_a_traceback(no_gearmand, pytester, fixture):
    pytester.makepyfile(f"def test_uses_it({fixture}):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*gearmand is not installed*sudo apt-get install -y gearman-job-server*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_missing_stunnel_names_the_install_command(no_gearmand):
    with pytest.raises(RuntimeError, match="stunnel4 is not installed .*sudo apt-get install -y stunnel4"):
        testing.find_stunnel()


def test_stunnel_runs_the_config_it_shows_and_is_stopped_by_pid(gearmand, certificates):
    tunnel = StunnelServer(gearmand, certificates.server_cert, certificates.server_key,
                           client_ca_file=certificates.ca_file)
    assert tunnel.config_file.read_text() == tunnel.config(
        certificates.server_cert, certificates.server_key, certificates.ca_file)
    assert f"accept = 127.0.0.1:{tunnel.port}\nconnect = {gearmand.address}\n" in tunnel.config_file.read_text()
    tunnel.start()
    pid = tunnel.pid
    assert process_exists(pid)
    tunnel.stop()
    assert tunnel.pid is None
    assert not process_exists(pid)
    assert gearmand.answers()  # only stunnel was stopped
