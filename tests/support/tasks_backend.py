"""What Django's tasks framework on Gearman leaves behind: testproject's shop/tasks.py notes,
and the functions a `--django-tasks` worker registered."""

from __future__ import annotations

import json
from pathlib import Path

from django_gearman.protocol import AdminClient

from .waiting import wait_for


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


def functions_of(server, pid: int) -> set[str]:
    """The Gearman functions the worker process `pid` registered."""
    with AdminClient(str(server), timeout=5) as admin:
        return {function for worker in admin.workers() if worker.client_id.split(":")[1:2] == [str(pid)]
                for function in worker.functions}
