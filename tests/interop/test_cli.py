"""The gearman command-line tool (Debian's gearman-tools) as client and as worker."""

from __future__ import annotations

import json

from support.interop import run


def cli(gearman_cli, server, *arguments, stdin: bytes | None = None):
    return run(gearman_cli, "-h", server.host, "-p", server.port, *arguments, stdin=stdin)


def test_the_cli_calls_raw_and_json_tasks(gearman_cli, serve, gearman_settings):
    serve("worker")

    assert cli(gearman_cli, gearman_settings, "-f", "shop.worker.reverse", "test").stdout == "tset"
    assert cli(gearman_cli, gearman_settings, "-f", "shop.worker.add", '{"args": [2, 3]}').stdout == "5"
    with_kwargs = cli(gearman_cli, gearman_settings, "-f", "shop.worker.add", '{"args": [2], "kwargs": {"b": 3}}')
    assert with_kwargs.stdout == "5"


def test_the_cli_sees_a_failed_task_fail_and_why(gearman_cli, serve, gearman_settings):
    serve("worker")

    result = cli(gearman_cli, gearman_settings, "-f", "shop.worker.fail", '{"args": ["out of stock"]}')

    # The CLI prints the warning sent before WORK_FAIL: the worker's failure report.
    assert result.returncode == 1
    report, ending = result.stderr.rsplit("}", 1)
    assert ending == "Job failed\n"
    error = json.loads(report + "}")["error"]
    assert (error["type"], error["message"]) == ("ValueError", "out of stock")
    assert error["traceback"].endswith("ValueError: out of stock\n")


def test_the_cli_feeds_the_log_service_line_by_line_and_streams_matches(gearman_cli, serve, gearman_settings,
                                                                         shop_data):
    serve("recipes")
    log = b"GET /index.html 200\nGET /missing 404\nPOST /cart 500\n"

    collect = cli(gearman_cli, gearman_settings, "-n", "-f", "shop.recipes.collect_log", stdin=log)
    grep = cli(gearman_cli, gearman_settings, "-f", "shop.recipes.grep_log", "GET")

    assert collect.returncode == 0, collect.stderr
    assert (shop_data / "collected.log").read_bytes() == log
    # Each match arrives as WORK_DATA while the worker searches, then the count.
    assert grep.stdout.startswith("GET /index.html 200\nGET /missing 404\n2")
    assert "100% Complete" in grep.stdout


def test_a_cli_worker_serves_a_django_client(gearman_cli, start_peer_worker, gearman_settings, gearman):
    start_peer_worker(gearman_cli, "-h", gearman_settings.host, "-p", gearman_settings.port,
                      "-w", "-f", "shout", "--", "tr", "a-z", "A-Z", functions=["shout"])

    assert gearman.submit_job("shout", data=b"hello, gearman") == b"HELLO, GEARMAN"
    assert gearman.submit_multiple_jobs([{"task": "shout", "data": word} for word in ("a", "b")]) == [b"A", b"B"]
