"""Worker-side retries (`@gearman_task(retries=, retry_backoff=, retry_on=)`) with real workers:
what the client, the hooks, the log and the result store see."""

from __future__ import annotations

import pytest
from shop.gearman_workers.outcomes import flaky, picky

from django_gearman import GearmanClient, GearmanJobFailed, get_result


@pytest.fixture
def storing(settings):
    """The result store on, here and (through `STORING`) in the workers."""
    settings.GEARMAN_STORE_RESULTS = True


STORING = {"GEARMAN_STORE_RESULTS": "1"}


def runs(path) -> int:
    return len(path.read_text().splitlines())


def test_a_job_that_fails_twice_is_retried_and_its_client_gets_only_the_success(
        db_backend, storing, serve_outcomes, gearman, hooks, tmp_path):
    worker = serve_outcomes(env=STORING)
    ledger = tmp_path / "runs"

    assert gearman.submit_job(flaky, args=[str(ledger), 2], unique="flaky-1") == 3
    assert runs(ledger) == 3
    signals = [entry["signal"] for entry in hooks.entries(worker.pid) if entry["signal"].startswith("task_")]
    assert signals == ["task_started", "task_retried", "task_retried", "task_finished"]
    first, second = [entry for entry in hooks.entries(worker.pid) if entry["signal"] == "task_retried"]
    assert (first["attempt"], second["attempt"]) == ("1", "2")
    assert first["exception"] == "ConnectionError('run 1 fails')"
    assert 0.025 <= float(first["delay"]) <= 0.05 and 0.05 <= float(second["delay"]) <= 0.1  # doubling, jittered
    assert "task shop.outcomes.flaky (job H:" in worker.output
    assert "attempt 1 of 4 failed (ConnectionError: run 1 fails); retrying in 0.0" in worker.output
    stored = get_result("flaky-1")
    assert (stored.status, stored.value, stored.attempts, stored.error.message) == ("succeeded", 3, 3, "run 2 fails")


def test_when_retries_run_out_the_last_error_is_the_outcome(
        db_backend, storing, serve_outcomes, gearman, hooks, tmp_path):
    worker = serve_outcomes(env=STORING)
    ledger = tmp_path / "runs"

    with pytest.raises(GearmanJobFailed, match="run 4 fails") as failed:
        gearman.submit_job(flaky, args=[str(ledger), 10], unique="flaky-2")
    assert failed.value.exception_type == "ConnectionError"
    assert runs(ledger) == 4  # the first run and three retries
    hooks.wait_for("task_failed", worker.pid)  # sent once the client has its failure
    signals = [entry["signal"] for entry in hooks.entries(worker.pid) if entry["signal"].startswith("task_")]
    assert signals == ["task_started", "task_retried", "task_retried", "task_retried", "task_failed"]
    stored = get_result("flaky-2")
    assert (stored.status, stored.attempts, stored.error.type) == ("failed", 4, "ConnectionError")


@pytest.mark.parametrize(("error", "expected_runs"), [("ValueError", 1), ("ConnectionError", 4)])
def test_only_the_exceptions_of_retry_on_are_retried(serve_outcomes, gearman, tmp_path, error, expected_runs):
    serve_outcomes()
    ledger = tmp_path / "runs"
    with pytest.raises(GearmanJobFailed, match="no luck") as failed:
        gearman.submit_job(picky, args=[str(ledger), error])
    assert failed.value.exception_type == error
    assert runs(ledger) == expected_runs


def test_in_eager_mode_retries_follow_at_once(db_backend, storing, settings, tmp_path):
    settings.GEARMAN_ALWAYS_EAGER = True
    ledger = tmp_path / "runs"
    assert GearmanClient().submit_job(flaky, args=[str(ledger), 1], unique="eager-flaky") == 2
    assert get_result("eager-flaky").attempts == 2
