"""PostgresCluster and the postgres_cluster fixture: a private PostgreSQL server, stopped by pid."""

from __future__ import annotations

import os
import pwd
import re
import socket
from pathlib import Path

import psycopg
import pytest
from support.gearmand import total_jobs
from support.processes import process_exists

from django_gearman import testing
from django_gearman.protocol import Client
from django_gearman.testing import PostgresCluster

pytest_plugins = ["pytester"]


def query(conninfo: str, sql: str):
    with psycopg.connect(conninfo, connect_timeout=5) as connection:
        return connection.execute(sql).fetchone()[0]


def test_the_fixture_serves_on_loopback_and_on_a_socket_in_its_own_directory(postgres_cluster):
    over_tcp = f"host=127.0.0.1 port={postgres_cluster.port} user=postgres dbname=postgres"
    assert query(over_tcp, "SHOW listen_addresses") == "127.0.0.1"
    assert query(postgres_cluster.conninfo(), "SHOW unix_socket_directories") == str(postgres_cluster.socket_dir)
    assert query(postgres_cluster.conninfo(), "SHOW fsync") == "off"
    assert postgres_cluster.socket_dir.is_relative_to(postgres_cluster.directory)


@pytest.mark.skipif(os.geteuid() != 0, reason="as another user than root, the server runs as that user")
def test_as_root_the_server_runs_as_the_unprivileged_postgres_account(postgres_cluster):
    account = pwd.getpwnam("postgres")
    assert os.stat(f"/proc/{postgres_cluster.pid}").st_uid == account.pw_uid
    assert os.stat(postgres_cluster.data_dir).st_uid == account.pw_uid


def test_create_database_gives_an_empty_database(postgres_cluster):
    name = postgres_cluster.create_database("created_by_test")
    assert query(postgres_cluster.conninfo(name), "SELECT current_database()") == "created_by_test"
    assert query(postgres_cluster.conninfo(name), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


def test_stop_and_start_keep_the_port_and_the_data_and_the_block_removes_everything():
    with PostgresCluster() as cluster:
        cluster.create_database("kept")
        port, pid = cluster.port, cluster.pid
        cluster.stop()
        assert cluster.pid is None and not process_exists(pid)
        cluster.stop()  # idempotent
        with socket.create_server(("127.0.0.1", port)):  # someone takes its port meanwhile
            with pytest.raises(RuntimeError, match=f"(?s)postgres exited on port {port}: .*Address already in use"):
                cluster.start()
        cluster.start()
        assert (cluster.port, query(cluster.conninfo("kept"), "SELECT current_database()")) == (port, "kept")
        pid = cluster.pid
    assert not process_exists(pid)
    assert not cluster.directory.exists()


@pytest.fixture
def no_postgres(monkeypatch):
    monkeypatch.setattr(testing.shutil, "which", lambda name: None)
    monkeypatch.setattr(testing, "POSTGRES_BIN_GLOB", "/nonexistent/*/bin")


def test_missing_postgres_names_the_install_command(no_postgres):
    with pytest.raises(RuntimeError, match="install it with: sudo apt-get install -y postgresql"):
        PostgresCluster()


def test_the_fixture_fails_with_the_install_command_not_a_traceback(no_postgres, pytester):
    pytester.makepyfile("def test_uses_it(postgres_cluster):\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:django", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*PostgreSQL is not installed*sudo apt-get install -y postgresql*"])
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs an account to run the server as")
def test_as_root_without_the_account_the_error_says_what_to_do():
    with pytest.raises(RuntimeError, match="refuses to run as root, and there is no account 'no-such-account'"):
        PostgresCluster(run_as="no-such-account")


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example(first_line: str) -> str:
    """The Python block of README's "Testing your own project" that begins with `first_line`."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    (block,) = [block for block in blocks if block.startswith(first_line)]
    return block


def test_the_readme_recipe_puts_a_projects_test_database_on_the_cluster(pytester):
    pytester.makepyfile(
        conftest=readme_example("# conftest.py"),
        recipe_settings='SECRET_KEY = "recipe"\n'
                        'INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]\n'
                        + readme_example("# the tests' settings"),
        test_recipe="""
            import pytest
            from django.contrib.auth.models import Group
            from django.db import connection

            @pytest.mark.django_db
            def test_the_database_is_on_the_cluster():
                Group.objects.create(name="on-postgresql")
                assert (connection.vendor, connection.settings_dict["NAME"]) == ("postgresql", "test_shop")
                assert Group.objects.count() == 1
        """,
    )
    result = pytester.runpytest_subprocess("--ds=recipe_settings", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_conninfo_is_what_a_gearmand_postgres_queue_takes(postgres_cluster, gearmand_factory):
    conninfo = postgres_cluster.conninfo(postgres_cluster.create_database("gearmand_queue"))
    # gearmand 1.1.20 calls this queue "postgres" ("-q libpq" is an unknown queue); its options are --libpq-*.
    server = gearmand_factory("-q", "postgres", f"--libpq-conninfo={conninfo}")
    Client([server.address]).submit_job("kept", b"payload", background=True, poll_timeout=10)
    assert query(conninfo, "SELECT count(*) FROM queue") == 1
    server.restart()
    assert total_jobs(server, "kept") == 1  # reloaded from PostgreSQL
