"""`manage.py gearman_tasks`: the tasks the installed apps define."""

import pytest
from support.commands import PREFIX, parse_tables, run, run_failing

COLUMNS = ("App", "Worker", "Queue", "Gearman Function")


def listing(*args) -> list[tuple[str, ...]]:
    [rows] = parse_tables(run("gearman_tasks", *args))
    return [tuple(row[column] for column in COLUMNS) for row in rows]


def test_lists_every_task_with_its_gearman_function_name(settings):
    settings.GEARMAN_TASK_PREFIX = PREFIX

    rows = listing()

    assert ("shop", "worker", "-", f"{PREFIX}shop.worker.add") in rows
    assert ("shop", "mail", "mail", f"{PREFIX}send-email") in rows
    assert ("shop", "mail", "reports", f"{PREFIX}shop.mail.daily_report") in rows
    assert len(rows) == len(set(rows))


def test_app_and_queue_narrow_the_list(settings):
    settings.GEARMAN_TASK_PREFIX = ""

    assert listing("--queue", "mail") == [("shop", "mail", "mail", "send-email")]
    assert listing("--app", "shop", "-q", "reports") == [("shop", "mail", "reports", "shop.mail.daily_report")]
    assert {row[0] for row in listing("-a", "shop")} == {"shop"}


@pytest.mark.parametrize(("args", "message"), [
    (("--app", "nope"), "no tasks in app 'nope'; apps with tasks: shop"),
    (("--queue", "nope"), "no tasks in queue 'nope'; queues: mail, reports"),
])
def test_unknown_app_or_queue_lists_what_exists(args, message):
    output, error = run_failing("gearman_tasks", *args)

    assert (output, str(error), error.returncode) == ("", message, 2)
