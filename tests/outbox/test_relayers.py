"""Who sends stored jobs: running workers, `manage.py gearman_outbox` until stopped, and
several relayers at once, as real processes on the test's database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from support.apps import PROBE_ENV
from support.gearmand import unique_ids
from support.ledger import LEDGER_WORKER, RECORD, ledger_env, runs
from support.processes import MANAGE_PY, manage_py_env
from support.waiting import wait_for

from django_gearman import GearmanClient
from django_gearman.models import StoredJob


def store(count: int, function: str = RECORD) -> list[str]:
    rows = [StoredJob(job_id=f"stored-{n}", function=function, payload=b'{"args": [%d]}' % n) for n in range(count)]
    StoredJob.objects.bulk_create(rows)
    return [row.job_id for row in rows]


def outbox_command(db_backend, gearmand, *options: str, log=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(MANAGE_PY), "gearman_outbox", *options],
                            env=manage_py_env([gearmand], db_backend.env), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, text=True)


def test_a_running_worker_sends_stored_jobs_and_then_runs_them(db_backend, gearmand, start_worker):
    job_ids = store(5)
    start_worker(*LEDGER_WORKER, "--outbox-interval", "0.2", servers=[gearmand], env=ledger_env(db_backend))
    wait_for(lambda: sorted(runs()) == sorted(job_ids), message="the stored jobs to run")
    assert set(runs().values()) == {1}
    assert not StoredJob.objects.exists()


def test_no_outbox_leaves_stored_jobs_to_others(db_backend, gearmand, start_worker):
    store(2)
    worker = start_worker(*LEDGER_WORKER, "--no-outbox", "--outbox-interval", "0.1", servers=[gearmand],
                          env=ledger_env(db_backend))
    command = outbox_command(db_backend, gearmand, "--once")  # a relayer proves the rows were there to send
    assert command.wait(60) == 0, command.stdout.read()
    assert command.stdout.read() == "sent 2 stored job(s); 0 still stored (0 due later)\n"
    wait_for(lambda: len(runs()) == 2, message="the worker to run what gearman_outbox sent")
    assert "sent" not in worker.output


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


def test_a_worker_without_the_table_logs_it_once_and_goes_on_serving(gearmand, start_worker, tmp_path):
    """A project that did not migrate django_gearman: the worker says so, once, and serves on."""
    worker = start_worker("-a", "gearman_probe", "-n", "probe", "--outbox-interval", "0.05", servers=[gearmand],
                          env={**PROBE_ENV, "TESTPROJECT_DB": str(tmp_path / "unmigrated.sqlite3")})
    wait_for(lambda: "outbox: cannot read the stored jobs" in worker.output, message="the worker to say why")
    time.sleep(0.5)  # ten more passes: the length of time under test, not a wait for something
    path = tmp_path / "ran.json"
    GearmanClient(servers=[gearmand.address]).submit_job("gearman_probe.probe.record", args=[str(path)])
    assert path.exists()
    assert worker.output.count("outbox: cannot read the stored jobs") == 1
    assert "no such table: django_gearman_storedjob" in worker.output


def test_the_outbox_interval_must_be_positive(gearmand, start_worker):
    worker = start_worker(*LEDGER_WORKER, "--outbox-interval", "0", servers=[gearmand], wait=False)
    assert worker.wait() == 2
    assert "argument --outbox-interval: must be more than 0, got 0" in worker.output
