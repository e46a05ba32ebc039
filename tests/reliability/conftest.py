"""Fixtures of the reliability suite: each test's figures, printed after it (passed or not)
and again, all together, at the end of the session."""

from __future__ import annotations

import pytest
from support.reliability import Figures

_printed: list[str] = []


@pytest.fixture
def figures(request) -> Figures:
    """The test fills it in before asserting on it; printed however the test ends."""
    figures = Figures(request.node.name)
    yield figures
    print(f"\nreliability figures: {figures}")
    _printed.append(str(figures))


def pytest_terminal_summary(terminalreporter):
    if _printed:
        terminalreporter.section("reliability figures")
        for line in _printed:
            terminalreporter.write_line(line)
