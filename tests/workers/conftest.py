"""Fixtures for the worker-process tests."""

import pytest
from support.workers import HookLog


@pytest.fixture
def hooks(tmp_path) -> HookLog:
    return HookLog(tmp_path / "hooks.jsonl")
