"""submit_on_commit while no gearmand is up: the transactions commit, nothing is raised, each
commit logs its jobs once, and once gearmand is back running workers send the stored jobs;
every committed job runs once, no rolled-back one runs. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time

import pytest
from django.db import transaction
from support.gearmand import reserved_port
from support.ledger import RECORD, runs
from support.reliability import Fleet, start_again, wait_drained

from django_gearman import GearmanClient
from django_gearman.models import StoredJob
from django_gearman.testing import GearmandServer

TRANSACTIONS = 3
JOBS_PER_TRANSACTION = 100


def test_jobs_submitted_on_commit_while_gearmand_is_down_run_once_it_is_back(db_backend, gearmand_factory,
                                                                             start_worker, settings, caplog, figures):
    started = time.monotonic()
    client = GearmanClient()
    job_ids, rolled_back = [], []
    with reserved_port() as port:  # refuses connections until gearmand starts on it
        settings.GEARMAN_SERVERS = [f"127.0.0.1:{port}"]
        with caplog.at_level(logging.WARNING, logger="django_gearman.outbox"):
            for number in range(TRANSACTIONS):
                with transaction.atomic(using=db_backend.alias):  # as a view would: nothing is raised out of it
                    job_ids += [client.submit_on_commit(RECORD, args=[n]) for n in range(JOBS_PER_TRANSACTION)]
                with pytest.raises(RuntimeError), transaction.atomic(using=db_backend.alias):
                    rolled_back.append(client.submit_on_commit(RECORD, args=[number]))
                    raise RuntimeError("rolled back")
    stored = StoredJob.objects.count()
    warnings = [record.getMessage() for record in caplog.records if record.name == "django_gearman.outbox"]

    gearmand = GearmandServer(port=port, log_dir=str(gearmand_factory.log_dir))
    gearmand_factory.servers.append(gearmand)  # stopped with the others
    start_again(gearmand)
    Fleet(start_worker, [gearmand], db_backend, "--outbox-interval", "0.5").start(2)
    still_held = wait_drained([gearmand], timeout=60, also=lambda: not StoredJob.objects.exists())

    figures.count(job_ids, still_held).seconds = time.monotonic() - started
    figures.details.update(stored_while_down=stored, warnings=len(warnings), rolled_back_run=len(
        [job_id for job_id in rolled_back if runs()[job_id]]))
    assert stored == len(job_ids) == TRANSACTIONS * JOBS_PER_TRANSACTION
    assert len(warnings) == TRANSACTIONS  # once per commit, naming its jobs
    assert all(f"{JOBS_PER_TRANSACTION} job(s) submitted on commit could not be sent" in warning
               for warning in warnings)
    assert (figures.lost, still_held, figures.duplicated) == (0, 0, 0)
    assert not set(rolled_back) & set(runs())
    assert not StoredJob.objects.exists()
