"""Fixtures for the management command tests: gearmand in a known state, with real workers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from support.commands import HOLD, PREFIX, UNSERVED
from support.gearmand import wait_status
from support.workers import release

from django_gearman import GearmanClient
from django_gearman.discovery import find_worker_module


@dataclass
class BusyServer:
    gearmand: object
    workers: list  # WorkerProcess, in start order

    @property
    def worker_functions(self) -> list[str]:
        """What a `shop.worker` worker registers, as gearmand names it."""
        return sorted(PREFIX + task.name for task in find_worker_module("shop", "worker").tasks)


@pytest.fixture
def busy_server(gearman_settings, settings, start_worker, tmp_path):
    """gearmand with GEARMAN_TASK_PREFIX "staging-" and two `shop.worker` workers, both
    busy with a held job, one more held job queued behind them, and three jobs queued
    for a function no worker offers."""
    settings.GEARMAN_TASK_PREFIX = PREFIX
    env = {"GEARMAN_TASK_PREFIX": PREFIX}
    workers = [start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env=env) for _ in range(2)]
    flag = tmp_path / "release"
    client = GearmanClient()
    for _ in range(3):
        client.submit_job(HOLD, args=[str(flag)], background=True)
        client.submit_job(UNSERVED, args=[], background=True)
    wait_status(gearman_settings, PREFIX + HOLD, running=2, queued=1)
    yield BusyServer(gearman_settings, workers)
    release(flag)
    client.close()
