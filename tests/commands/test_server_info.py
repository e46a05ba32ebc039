"""`manage.py gearman_server_info` against real gearmand servers and real workers."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

from support.commands import HOLD, PREFIX, UNSERVED, parse_tables, run, run_failing, run_manage_py
from support.gearmand import wait_status
from support.processes import MANAGE_PY, manage_py_env
from support.protocol import WorkerThread
from support.waiting import wait_for

from django_gearman import GearmanClient
from django_gearman.inspection import ServerReport, configured_servers, render_tables
from django_gearman.protocol import Client, Worker


def server_json(*args) -> dict:
    [server] = json.loads(run("gearman_server_info", "--json", *args))["servers"]
    return server


def expected_workers(busy_server, functions) -> list[dict]:
    """The busy server's worker rows as --json lists them, without fds, by client id."""
    return sorted(({"ip": "127.0.0.1", "registered_tasks": functions,
                    "client_id": f"{socket.gethostname()}:{worker.pid}:shop.worker"} for worker in busy_server.workers),
                  key=lambda worker: worker["client_id"])


def listed_workers(server: dict) -> list[dict]:
    """The worker rows of a --json server, without fds, by client id: rows come in fd order,
    which need not be start order, since gearmand reuses the fds of closed connections."""
    return sorted(({key: value for key, value in worker.items() if key != "file_descriptor"}
                   for worker in server["workers"]), key=lambda worker: worker["client_id"])


def test_known_state_shows_exact_numbers(busy_server):
    server = server_json()

    assert server["host"] == busy_server.gearmand.address
    assert server["error"] is None
    assert server["version"].startswith("1.1.")
    assert server["ping_seconds"] > 0
    # Every function and worker, in name and connection order; queued = gearmand's TOTAL - running.
    expected_tasks = {name: (2, 0, 0) for name in busy_server.worker_functions}
    expected_tasks[PREFIX + HOLD] = (2, 2, 1)
    expected_tasks[PREFIX + UNSERVED] = (0, 0, 3)
    assert [(task["name"], task["total_workers"], task["running_jobs"], task["queued_jobs"])
            for task in server["tasks"]] == [(name, *counts) for name, counts in sorted(expected_tasks.items())]
    # The test's own client connection registers nothing, so it is not listed.
    assert listed_workers(server) == expected_workers(busy_server, busy_server.worker_functions)
    descriptors = [worker["file_descriptor"] for worker in server["workers"]]
    assert descriptors == sorted(descriptors)


def test_tables_show_the_same_data_as_json(busy_server):
    data = server_json()
    hosts, tasks, workers = parse_tables(run("gearman_server_info"))

    assert len(hosts) == 1
    assert hosts[0]["Gearman Server Host"] == data["host"]
    assert hosts[0]["Gearman Server Version"] == data["version"]
    assert hosts[0]["Ping Response Time"].endswith(" ms") and float(hosts[0]["Ping Response Time"][:-3]) > 0
    assert [
        {"name": row["Task Name"], "total_workers": int(row["Total Workers"]),
         "running_jobs": int(row["Running Jobs"]), "queued_jobs": int(row["Queued Jobs"])}
        for row in tasks
    ] == data["tasks"]
    assert [
        {"ip": row["Worker IP"], "registered_tasks": row["Registered Tasks"].split("\n"),
         "client_id": row["Client ID"], "file_descriptor": int(row["File Descriptor"])}
        for row in workers
    ] == data["workers"]


def test_filter_is_a_case_sensitive_substring_of_task_names(busy_server):
    server = server_json("wait_for")

    assert [(task["name"], task["running_jobs"], task["queued_jobs"]) for task in server["tasks"]] == [
        (PREFIX + HOLD, 2, 1)
    ]
    # Workers are listed with only the tasks that match.
    assert listed_workers(server) == expected_workers(busy_server, [PREFIX + HOLD])

    [_, tasks, workers] = parse_tables(run("gearman_server_info", "WAIT_FOR"))
    assert tasks == [] and workers == []


def test_a_down_or_silent_server_gets_a_row_and_the_others_are_still_reported(gearman_settings, settings,
                                                                              silent_server, refused_address):
    settings.GEARMAN_CLIENT_SERVERS = [gearman_settings.address]
    settings.GEARMAN_WORKER_SERVERS = [refused_address, gearman_settings.address, silent_server]

    tables, error = run_failing("gearman_server_info", "--timeout", "0.5")
    document, json_error = run_failing("gearman_server_info", "--timeout", "0.5", "--json")

    assert error.returncode == json_error.returncode == 1
    assert str(error) == str(json_error) == f"2 of 3 servers did not answer: {refused_address}, {silent_server}"
    servers = json.loads(document)["servers"]
    # Client servers first, then worker servers; each server once.
    assert [server["host"] for server in servers] == [gearman_settings.address, refused_address, silent_server]
    assert [server["error"] is None for server in servers] == [True, False, False]
    assert "Connection refused" in servers[1]["error"]
    assert "did not answer within 0.5 s" in servers[2]["error"]
    # The answering server's three tables, then a single host row for each of the others.
    tables = parse_tables(tables)
    assert len(tables) == 5
    assert tables[0][0]["Gearman Server Version"] == servers[0]["version"]
    assert tables[1] == [] and tables[2] == []
    assert [(row["Gearman Server Host"], row["Gearman Server Version"], row["Ping Response Time"])
            for [row] in tables[3:]] == [(server["host"], f"DOWN: {server['error']}", "-") for server in servers[1:]]


def test_a_report_that_answered_without_a_ping_time_shows_none():
    (host,), tasks, workers = parse_tables(render_tables([ServerReport("127.0.0.1:4730", version="1.1.21")]))
    assert host == {"Gearman Server Host": "127.0.0.1:4730", "Gearman Server Version": "1.1.21",
                    "Ping Response Time": "-"}
    assert (tasks, workers) == ([], [])


def test_configured_servers_are_deduplicated_in_order(settings):
    settings.GEARMAN_CLIENT_SERVERS = ["localhost", "127.0.0.1:4731"]
    settings.GEARMAN_WORKER_SERVERS = ["127.0.0.1:4731", "localhost:4730", "10.0.0.9"]

    assert configured_servers() == ["localhost:4730", "127.0.0.1:4731", "10.0.0.9:4730"]


def test_exit_status_from_a_shell(gearmand, refused_address):
    answered = run_manage_py("gearman_server_info", servers=[gearmand])
    partly = run_manage_py("gearman_server_info", "--timeout", "0.5", servers=[gearmand, refused_address])

    assert (answered.returncode, answered.stderr) == (0, "")
    assert gearmand.address in answered.stdout
    assert partly.returncode == 1
    assert partly.stderr == f"CommandError: 1 of 2 servers did not answer: {refused_address}\n"
    assert gearmand.address in partly.stdout
    assert f"DOWN: cannot connect to gearmand at {refused_address}" in partly.stdout


def test_watch_redraws_until_interrupted(gearmand):
    watcher = subprocess.Popen(
        [sys.executable, str(MANAGE_PY), "gearman_server_info", "--json", "--watch", "0.05"],
        env=manage_py_env([gearmand]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
    )
    try:
        def next_snapshot() -> dict:
            line = watcher.stdout.readline()
            assert line, f"gearman_server_info --watch exited with {watcher.wait()}"
            [server] = json.loads(line)["servers"]
            return {task["name"]: task["queued_jobs"] for task in server["tasks"]}

        assert next_snapshot() == {}
        client = GearmanClient(servers=[gearmand.address])
        client.submit_job(UNSERVED, background=True, args=[])
        client.close()
        wait_for(lambda: next_snapshot() == {UNSERVED: 1}, message="a redraw showing the queued job")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=30) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
        watcher.stdout.close()


ESCAPES = "\x1b]0;pwned\x07\x1b[2Jevil"  # sets the window title, then clears the screen


def test_terminal_escapes_in_names_are_shown_escaped(gearman_settings):
    client = Client([gearman_settings.address])
    client.submit_job(ESCAPES, b"", background=True, poll_timeout=10)
    worker = Worker([gearman_settings.address], client_id="\x1b[31mred")
    worker.register("csi\x9b2J", lambda job: None)
    thread = WorkerThread(worker)
    thread.start()
    try:
        wait_status(gearman_settings, "csi\x9b2J", available_workers=1)
        tables = run("gearman_server_info")
        document = run("gearman_server_info", "--json")
    finally:
        thread.stop()
        client.close()

    assert not {"\x1b", "\x07", "\x9b"} & set(tables)
    [_, tasks, workers] = parse_tables(tables)
    assert {task["Task Name"] for task in tasks} == {r"\x1b]0;pwned\x07\x1b[2Jevil", r"csi\x9b2J"}
    assert [(row["Client ID"], row["Registered Tasks"]) for row in workers] == [(r"\x1b[31mred", r"csi\x9b2J")]
    # JSON escapes them itself, and gives the names back exactly.
    assert "\x1b" not in document
    [server] = json.loads(document)["servers"]
    assert {task["name"] for task in server["tasks"]} == {ESCAPES, "csi\x9b2J"}


def test_a_forged_listing_shows_the_server_down_not_made_up_rows(gearman_settings):
    client = Client([gearman_settings.address])
    client.submit_job("a\t7\t7\t7\n.\n66 6.6.6.6 spoofed : shop.fake\n.\nzz", b"", background=True, poll_timeout=10)
    client.close()

    tables, error = run_failing("gearman_server_info")
    assert str(error) == f"1 of 1 servers did not answer: {gearman_settings.address}"
    assert "6.6.6.6" not in tables and "shop.fake" not in tables
    [[host]] = parse_tables(tables)
    assert host["Gearman Server Version"] == (
        f"DOWN: gearmand's 'status' listing from {gearman_settings.address} goes on after its end ('.'): "
        "a name in it holds a line break, so its rows cannot be told apart"
    )
