"""Unique jobs: gearmand runs work with one unique id once for every client waiting on it."""

from __future__ import annotations

from support.gearmand import wait_status
from support.shop import collected_lines, waiting_clients
from support.waiting import wait_for

from django_gearman import GearmanClient


def add_once(n: int) -> int:
    """2n from a worker, under one unique id whatever n is: who gets what shows which job ran."""
    return GearmanClient().submit_job("shop.worker.add", args=[n, n], unique="the-sum", poll_timeout=30)


def test_clients_waiting_on_one_unique_id_share_one_run(serve, gearman_settings, in_background):
    clients = [in_background(add_once, n) for n in (1, 2, 3)]
    # No worker yet: all three wait on one job, whose arguments are those of the first to arrive.
    wait_for(lambda: waiting_clients(gearman_settings, "the-sum") == 3,
             message="three clients waiting on unique id the-sum")
    wait_status(gearman_settings, "shop.worker.add", queued=1)
    serve("worker")

    results = [client.result(timeout=30) for client in clients]
    assert len(set(results)) == 1 and results[0] in (2, 4, 6), results


def test_duplicate_unique_ids_inside_one_batch(serve, gearman, gearman_settings, in_background):
    jobs = [{"task": "shop.worker.add", "args": [1, 1], "unique": "same"},
            {"task": "shop.worker.add", "args": [5, 5]},
            {"task": "shop.worker.add", "args": [9, 9], "unique": "same"}]
    batch = in_background(gearman.submit_multiple_jobs, jobs)
    wait_for(lambda: waiting_clients(gearman_settings, "same") == 2, message="both jobs on unique id 'same'")
    serve("worker")

    assert batch.result(timeout=30) == [2, 10, 2]


def test_background_jobs_with_one_unique_id_are_queued_and_run_once(serve, gearman, gearman_settings, shop_data):
    handles = [gearman.submit_job("shop.recipes.collect_log", data=f"copy {n}", unique="nightly-report",
                                  background=True) for n in (1, 2, 3)]

    assert len(set(handles)) == 1
    wait_status(gearman_settings, "shop.recipes.collect_log", queued=1)
    serve("recipes")
    gearman.submit_job("shop.recipes.collect_log", data="after")  # runs after the queued one: one worker
    assert collected_lines(shop_data, 2) == ["copy 1", "after"]
