"""What ran, as testproject's ledger app records it: an `Effect` row per run of a
tests/apps/gearman_ledger task, keyed by the job id, in the test's database."""

from __future__ import annotations

from collections import Counter

from ledger.models import Effect

from .apps import PROBE_ENV

#: The worker serving the ledger tasks: `start_worker(*LEDGER_WORKER, env=ledger_env(db_backend))`.
LEDGER_WORKER = ("-a", "gearman_ledger", "-n", "effects")
RECORD = "gearman_ledger.effects.record"
RECORD_WHEN_RELEASED = "gearman_ledger.effects.record_when_released"
CRASH = "gearman_ledger.effects.crash"
LEDGER_TASKS = (RECORD, RECORD_WHEN_RELEASED, CRASH)


def ledger_env(db_backend, **extra: str) -> dict[str, str]:
    """Environment of a `manage.py` process that serves the ledger tasks and writes to the test's database."""
    return {**PROBE_ENV, "GEARMAN_TEST_APPS": "gearman_ledger", **db_backend.env, **extra}


def runs(kind: str = "done") -> Counter[str]:
    """How often each job id ran (`kind` "done": finished its work; "started": began)."""
    return Counter(Effect.objects.filter(kind=kind).values_list("job_id", flat=True))
