"""Priorities: with one worker, high jobs run before normal ones, normal before low."""

from __future__ import annotations

import pytest
from support.gearmand import wait_status
from support.shop import collected_lines

LOG = "shop.recipes.collect_log"
SUBMITTED = [("low", "low 1"), ("normal", "normal 1"), ("high", "high 1"),
             ("low", "low 2"), ("high", "high 2"), ("normal", "normal 2")]
RUN_ORDER = ["high 1", "high 2", "normal 1", "normal 2", "low 1", "low 2"]


def test_background_jobs_run_by_priority(serve, gearman, gearman_settings, shop_data):
    for priority, line in SUBMITTED:
        gearman.submit_job(LOG, data=line, priority=priority, background=True)
    wait_status(gearman_settings, LOG, queued=len(SUBMITTED))

    serve("recipes", "--prefetch", "1")  # one job at a time, always the most urgent one queued

    assert collected_lines(shop_data, len(SUBMITTED)) == RUN_ORDER


def test_foreground_jobs_run_by_priority_and_results_keep_submission_order(
        serve, gearman, gearman_settings, shop_data, in_background):
    jobs = [{"task": LOG, "data": line, "priority": priority} for priority, line in SUBMITTED]
    batch = in_background(gearman.submit_multiple_jobs, jobs)
    wait_status(gearman_settings, LOG, queued=len(SUBMITTED))

    serve("recipes", "--prefetch", "1")

    assert batch.result(timeout=30) == [b""] * len(SUBMITTED)
    assert collected_lines(shop_data, len(SUBMITTED)) == RUN_ORDER


def test_unknown_priorities_are_refused(gearman):
    with pytest.raises(ValueError, match=r"invalid priority 'urgent': expected one of \('high', 'normal', 'low'\)"):
        gearman.submit_job(LOG, data="x", priority="urgent")
