"""Fixtures for Django's tasks framework on Gearman: the notes testproject's
shop/tasks.py leaves, and `manage.py gearman_worker --django-tasks` processes."""

from __future__ import annotations

import pytest
from support.tasks_backend import Notes


@pytest.fixture
def notes(tmp_path) -> Notes:
    return Notes(tmp_path / "notes.jsonl")


@pytest.fixture
def tasks_worker(gearman_settings, start_worker):
    """`tasks_worker("-q", "reports", env={...})` starts `manage.py gearman_worker --django-tasks -q reports`
    against the test's gearmand (also where this process enqueues to)."""

    def start(*options: str, env=None):
        return start_worker("--django-tasks", *options, servers=[gearman_settings], env=env)

    return start
