"""Helpers for the management command tests: run a command, read its tables back."""

from __future__ import annotations

import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from .processes import MANAGE_PY, manage_py_env

#: The prefix, the held task and a function no worker serves, of the busy_server fixture.
PREFIX = "staging-"
HOLD = "shop.worker.wait_for_file"
UNSERVED = "nobody.listens"


def run(command: str, *args, **options) -> str:
    """`manage.py command args...` in this process (so `settings` fixtures apply); returns stdout."""
    out = StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue()


def run_failing(command: str, *args) -> tuple[str, CommandError]:
    """Like `run` for a command that must fail: its stdout and the CommandError it raised."""
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(command, *args, stdout=out)
    return out.getvalue(), raised.value


def run_manage_py(*args, servers, env=None) -> subprocess.CompletedProcess:
    """A real `manage.py` process, for exit statuses and stderr as a shell sees them."""
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), *args], env=manage_py_env(servers, env),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )


def parse_tables(text: str) -> list[list[dict[str, str]]]:
    """prettytable output back into rows of {column: cell}; a multi-line cell's lines joined by newlines."""
    tables = []
    for block in text.strip().split("\n\n"):
        lines = [line for line in block.splitlines() if line.startswith("|")]
        header, rows = _cells(lines[0]), []
        for line in lines[1:]:
            cells = _cells(line)
            if rows and not cells[0]:
                for column, cell in zip(header, cells, strict=True):
                    if cell:
                        rows[-1][column] += "\n" + cell
            else:
                rows.append(dict(zip(header, cells, strict=True)))
        tables.append(rows)
    return tables


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("|").split("|")]
