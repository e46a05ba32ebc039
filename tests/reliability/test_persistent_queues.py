"""gearmand's persistent queues keep every background job across a crash: 10,000 jobs
queued, gearmand SIGKILLed and restarted on the same queue (SQLite, PostgreSQL), then
drained by real workers, each job's effect recorded once by its job id."""

from __future__ import annotations

import time
import uuid

import pytest
from support.databases import POSTGRESQL
from support.gearmand import point_settings_at, total_jobs
from support.ledger import RECORD, runs
from support.reliability import Fleet, crash_and_restart, submit_records, tmpfs_directory, wait_drained

from django_gearman import GearmanClient

#: The effects are recorded on PostgreSQL: three processes writing one SQLite file would mostly wait.
pytestmark = pytest.mark.parametrize("db_backend", [POSTGRESQL], indirect=True)

JOBS = 10_000


@pytest.fixture(params=["libsqlite3", "postgres"])
def persistent_gearmand(request, gearmand_factory):
    """A gearmand keeping its queue in SQLite (`-q libsqlite3`) or PostgreSQL (`-q postgres`)."""
    if request.param == "libsqlite3":
        with tmpfs_directory() as directory:
            yield gearmand_factory("-q", "libsqlite3", f"--libsqlite3-db={directory / 'gearmand.sqlite'}")
    else:
        cluster = request.getfixturevalue("postgres_cluster")
        database = cluster.create_database(f"gearmand_{uuid.uuid4().hex[:12]}")
        yield gearmand_factory("-q", "postgres", f"--libpq-conninfo={cluster.conninfo(database)}")


def test_every_queued_job_survives_a_gearmand_crash_and_runs_once(db_backend, persistent_gearmand, start_worker,
                                                                  settings, figures):
    point_settings_at(settings, persistent_gearmand)
    started = time.monotonic()
    job_ids = submit_records(GearmanClient(), JOBS)
    queued = total_jobs(persistent_gearmand, RECORD)
    crash_and_restart(persistent_gearmand)
    kept = total_jobs(persistent_gearmand, RECORD)
    Fleet(start_worker, [persistent_gearmand], db_backend, "--no-outbox").start(2)
    still_held = wait_drained([persistent_gearmand], timeout=180)

    figures.count(job_ids, still_held).seconds = time.monotonic() - started
    figures.details.update(queued=queued, kept_after_sigkill=kept)
    assert len(set(job_ids)) == JOBS
    assert (queued, kept) == (JOBS, JOBS)
    assert (figures.lost, still_held, figures.duplicated) == (0, 0, 0)
    assert set(runs()) == set(job_ids)  # and nothing else ran
