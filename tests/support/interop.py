"""Running the other-language peers of tests/interop (PHP, Perl, the gearman CLI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

#: tests/interop, where the PHP and Perl programs are.
HERE = Path(__file__).resolve().parent.parent / "interop"


def run(*command, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run a peer to completion; text output (bytes on stdin if given)."""
    result = subprocess.run(list(map(str, command)), input=stdin, capture_output=True, timeout=60)
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(), result.stderr.decode())


def output_lines(*command) -> list[str]:
    """The lines a peer printed; it must succeed."""
    result = run(*command)
    assert result.returncode == 0, f"{command} exited with {result.returncode}:\n{result.stderr}"
    return result.stdout.splitlines()

