"""Helpers for the worker-process tests: the hook log that testproject's
shop/signals.py writes, and submitting and releasing jobs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django_gearman import GearmanClient

from .waiting import wait_for

#: How long a test waits for a job's result before failing.
RESULT_TIMEOUT = 30


class HookLog:
    """The JSON lines written by shop/signals.py when SHOP_HOOK_LOG names this file."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def env(self) -> dict[str, str]:
        return {"SHOP_HOOK_LOG": str(self.path)}

    def entries(self, pid: int | None = None) -> list[dict]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        entries = [json.loads(line) for line in lines if line]
        return [entry for entry in entries if pid is None or entry["pid"] == pid]

    def signals(self, pid: int) -> list[str]:
        return [entry["signal"] for entry in self.entries(pid)]

    def wait_for(self, signal: str, pid: int | None = None, count: int = 1) -> list[dict]:
        def seen():
            found = [entry for entry in self.entries(pid) if entry["signal"] == signal]
            return found if len(found) >= count else None

        return wait_for(seen, message=f"{count} {signal} hook(s) from {pid or 'any worker'}: {self.entries()}")


def client(server) -> GearmanClient:
    return GearmanClient(servers=[str(server)])


def submit(server, task: str, *args):
    """Run `task(*args)` on a worker through `server` and return its result."""
    gearman = client(server)
    try:
        return gearman.submit_job(task, args=list(args), poll_timeout=RESULT_TIMEOUT)
    finally:
        gearman.close()


def release(path: Path, text: str = "done") -> None:
    """Let a `shop.worker.wait_for_file(path)` job finish. Written aside and
    renamed, so the job never reads a half-written file."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)
