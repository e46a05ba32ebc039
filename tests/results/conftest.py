"""Fixtures for the result store, retries and time limits: testproject's
shop/gearman_workers/outcomes.py served by real workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from support.workers import HookLog


@pytest.fixture
def hooks(tmp_path) -> HookLog:
    return HookLog(tmp_path / "hooks.jsonl")


@pytest.fixture
def serve_outcomes(request, gearman_settings, start_worker, hooks, settings):
    """`serve_outcomes(*options, env={...})` starts `manage.py gearman_worker -a shop -n outcomes` on the
    test's gearmand, and on its database if the test runs on both (`db_backend`); its hooks are logged
    to `hooks`. The test's foreground jobs wait 30 s at most."""
    settings.GEARMAN_DEFAULT_TIMEOUT = 30
    database = request.getfixturevalue("db_backend").env if "db_backend" in request.fixturenames else {}

    def serve(*options: str, env=None):
        return start_worker("-a", "shop", "-n", "outcomes", *options, servers=[gearman_settings],
                            env={**database, **hooks.env, **(env or {})})

    return serve
