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
        (["--max-jobs", "2", "--prefetch", "3"], 2, "--max-jobs"),  # fetches no more than it may run
        (["--max-jobs", "1", "--prefetch", "3"], 1, "--max-jobs"),
        (["--max-memory", "1"], 1, "--max-memory"),  # any Python process is bigger than 1 MB
        (["--max-memory", "1", "--prefetch", "3"], 3, "--max-memory"),  # runs the two fetched ahead first
    ],
    ids=["max-jobs-2", "max-jobs-1", "max-memory", "max-memory-prefetch-3"],
)
def test_limit_exits_cleanly_and_leaves_the_other_jobs_queued(options, jobs_before_exit, reason, gearmand_factory,
                                                             start_worker, in_background):
    # --job-retries=1: a job fetched ahead and handed back by disconnecting would be deleted.
    gearmand = gearmand_factory("--job-retries=1")
    gearman = client(gearmand)
    results = in_background(gearman.submit_multiple_jobs, [{"task": WHOAMI}] * 4, poll_timeout=RESULT_TIMEOUT,
                            return_exceptions=True)
    wait_status(gearmand, WHOAMI, queued=4)

    limited = start_worker(*WORKER, *options, servers=[gearmand], wait=False)
    assert limited.wait() == 0
    assert limited.output.count(reason) == 1
    wait_status(gearmand, WHOAMI, queued=4 - jobs_before_exit, running=0)

    successor = start_worker(*WORKER, servers=[gearmand], wait=False)
    served = Counter(results.result(RESULT_TIMEOUT))
    print(f"{' '.join(options)} under --job-retries=1: queued 4, ran before exit {served[limited.pid]}, "
          f"by the successor {served[successor.pid]}, lost {4 - served[limited.pid] - served[successor.pid]}")
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
