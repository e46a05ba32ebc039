"""Fixtures for Django's tasks framework on Gearman: the notes testproject's
shop/tasks.py leaves, and `manage.py gearman_worker --django-tasks` processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import wait_for

from django_gearman.protocol import AdminClient


class Notes:
    """The JSON lines shop.tasks.note and its siblings append to one file."""

    def __init__(self, path: Path):
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        complete = self.path.read_text().split("\n")[:-1]  # a line still being written has no newline yet
        return [json.loads(line) for line in complete]

    def wait(self, count: int = 1) -> list[dict]:
        def enough():
            entries = self.entries()
            return entries if len(entries) >= count else None

        return wait_for(enough, timeout=30, message=f"{count} note(s) in {self.path}")


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


def functions_of(server, pid: int) -> set[str]:
    """The Gearman functions the worker process `pid` registered."""
    with AdminClient(str(server), timeout=5) as admin:
        return {function for worker in admin.workers() if worker.client_id.split(":")[1:2] == [str(pid)]
                for function in worker.functions}
