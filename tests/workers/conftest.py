"""Fixtures for the worker-process tests."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from .helpers import HookLog


@pytest.fixture
def hooks(tmp_path) -> HookLog:
    return HookLog(tmp_path / "hooks.jsonl")


@pytest.fixture
def in_background():
    """`in_background(fn, *args, **kwargs)` runs fn in a thread and returns its Future
    (for foreground jobs whose client blocks while the test acts on the worker)."""
    pool = ThreadPoolExecutor(max_workers=8)
    yield pool.submit
    pool.shutdown(wait=False, cancel_futures=True)
