"""--max-jobs, --max-memory, --prefetch and database connections around jobs."""

from collections import Counter

import pytest
from support.gearmand import wait_status
from support.workers import RESULT_TIMEOUT, client, submit

WORKER = ("-a", "shop", "-n", "worker")
WHOAMI = "shop.worker.whoami"


@pytest.mark.parametrize(
    ("options", "jobs_before_exit", "reason"),
    [
        (["--max-jobs", "2", "--prefetch", "3"], 2, "--max-jobs"),
        (["--max-memory", "1"], 1, "--max-memory"),  # any Python process is bigger than 1 MB
    ],
    ids=["max-jobs", "max-memory"],
)
def test_limit_exits_cleanly_and_leaves_the_other_jobs_queued(options, jobs_before_exit, reason, gearmand,
                                                             start_worker, in_background):
    gearman = client(gearmand)
    results = in_background(gearman.submit_multiple_jobs, [{"task": WHOAMI}] * 4, poll_timeout=RESULT_TIMEOUT)
    wait_status(gearmand, WHOAMI, queued=4)

    limited = start_worker(*WORKER, *options, servers=[gearmand], wait=False)
    assert limited.wait() == 0
    assert reason in limited.output
    wait_status(gearmand, WHOAMI, queued=4 - jobs_before_exit, running=0)

    successor = start_worker(*WORKER, servers=[gearmand], wait=False)
    served = Counter(results.result(RESULT_TIMEOUT))
    assert served == {limited.pid: jobs_before_exit, successor.pid: 4 - jobs_before_exit}


def test_database_connections_are_closed_around_each_job(gearmand, start_worker, tmp_path):
    start_worker(*WORKER, servers=[gearmand], env={"TESTPROJECT_DB": str(tmp_path / "db.sqlite3")})
    # The first job opens a connection; the worker must close it before the next one.
    assert [submit(gearmand, "shop.worker.found_database_connection") for _ in range(2)] == [False, False]


@pytest.mark.parametrize("option", ["--max-jobs", "--max-memory", "--prefetch"])
def test_limits_must_be_positive(option, gearmand, start_worker):
    worker = start_worker(*WORKER, option, "0", servers=[gearmand], wait=False)
    assert worker.wait() == 2
    assert f"argument {option}: must be at least 1, got 0" in worker.output
