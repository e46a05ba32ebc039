"""Who sends stored jobs: `manage.py gearman_outbox` until stopped, and several relayers at
once, as real processes on the test's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from support.gearmand import unique_ids
from support.ledger import RECORD
from support.processes import MANAGE_PY, manage_py_env
from support.waiting import wait_for

from django_gearman.models import StoredJob

pytestmark = pytest.mark.usefixtures("db_backend")


def store(count: int, function: str = RECORD) -> list[str]:
    rows = [StoredJob(job_id=f"stored-{n}", function=function, payload=b'{"args": [%d]}' % n) for n in range(count)]
    StoredJob.objects.bulk_create(rows)
    return [row.job_id for row in rows]


def outbox_command(db_backend, gearmand, *options: str, log=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(MANAGE_PY), "gearman_outbox", *options],
                            env=manage_py_env([gearmand], db_backend.env), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def test_gearman_outbox_relays_until_sigterm_then_exits_0(db_backend, gearmand, tmp_path):
    with open(tmp_path / "outbox.log", "w") as log:
        relayer = outbox_command(db_backend, gearmand, "--interval", "0.1", log=log)
    try:
        first = store(3)
        wait_for(lambda: sorted(unique_ids(gearmand)) == sorted(first), message="the first rows in gearmand")
        StoredJob.objects.bulk_create([StoredJob(job_id="later", function=RECORD, payload=b'{"args": [9]}')])
        wait_for(lambda: "later" in unique_ids(gearmand), message="a row stored later in gearmand")
        relayer.send_signal(signal.SIGTERM)
        assert relayer.wait(30) == 0
    finally:
        relayer.kill()
        relayer.wait()
    assert not StoredJob.objects.exists()
    output = (tmp_path / "outbox.log").read_text()
    assert "got SIGTERM: finishing this pass, then exiting" in output, output


def test_relayers_at_once_send_each_stored_job_exactly_once(db_backend, gearmand):
    job_ids = store(2000)
    relayers = [outbox_command(db_backend, gearmand, "--once", "--batch", "50") for _ in range(4)]
    outputs = [relayer.communicate(timeout=120)[0] for relayer in relayers]
    assert [relayer.returncode for relayer in relayers] == [0] * 4, outputs
    sent = [int(re.match(r"sent (\d+) stored job\(s\)", output.splitlines()[-1]).group(1)) for output in outputs]
    print(f"4 relayers over {len(job_ids)} stored jobs sent {sent}")
    assert sum(sent) == len(job_ids)  # a row sent by two relayers would count twice
    assert sorted(unique_ids(gearmand)) == sorted(job_ids)
    assert not StoredJob.objects.exists()
