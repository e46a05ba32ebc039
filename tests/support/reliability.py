"""The reliability suite's tools: workers it kills and restarts by pid, jobs it sends in
bulk, and the figures each test prints (sent, run, lost, duplicated, seconds)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django_gearman import GearmanClient
from django_gearman.testing import GearmandServer

from .gearmand import total_jobs
from .ledger import LEDGER_TASKS, LEDGER_WORKER, RECORD, ledger_env, runs
from .processes import WorkerProcess

#: Jobs per submit_multiple_jobs call when a test sends thousands.
SUBMIT_BATCH = 1000


@dataclass
class Figures:
    """What one reliability test did, printed as one line and asserted on."""

    test: str
    seed: int | None = None
    sent: int = 0
    run: int = 0  # distinct jobs with a finished run
    lost: int = 0  # sent, never finished
    duplicated: int = 0  # finished runs beyond the first, all jobs together
    seconds: float = 0.0
    details: dict[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        seed = f" seed={self.seed}" if self.seed is not None else ""
        details = "".join(f" {name}={value}" for name, value in self.details.items())
        return (f"{self.test}:{seed} sent={self.sent} run={self.run} lost={self.lost} "
                f"duplicated={self.duplicated} seconds={self.seconds:.1f}{details}")

    def count(self, job_ids: Sequence[str], still_held: int = 0) -> Figures:
        """Fill in run, lost and duplicated from the ledger, for the jobs `job_ids`, of which
        gearmand `still_held` some (see wait_drained): neither run nor held is lost."""
        done = runs()
        self.sent = len(job_ids)
        self.run = sum(1 for job_id in job_ids if done[job_id])
        self.lost = self.sent - self.run - still_held
        self.duplicated = sum(done[job_id] - 1 for job_id in job_ids if done[job_id] > 1)
        if still_held:
            self.details["still_held"] = still_held
        return self


def submit_records(client: GearmanClient, count: int, *, start: int = 0, **record) -> list[str]:
    """Queue `count` background ledger jobs (`record(n, **record)`); their job ids, in order."""
    job_ids = []
    for first in range(start, start + count, SUBMIT_BATCH):
        numbers = range(first, min(first + SUBMIT_BATCH, start + count))
        handles = client.submit_multiple_jobs(
            [{"task": RECORD, "args": [n], "kwargs": record} for n in numbers], background=True)
        job_ids += [handle.job_id for handle in handles]
    return job_ids


def wait_drained(servers, timeout: float, *, also: Callable[[], bool] = lambda: True) -> int:
    """Poll until no server holds a ledger job, queued or running, and `also()` holds: all that
    will run has, and its effect is recorded (a task writes it before it replies). Returns how
    many jobs the servers still hold: 0, or more if `timeout` ran out, which the test then
    reports in its figures (a job neither run nor held is lost) instead of failing here."""
    deadline = time.monotonic() + timeout
    while True:
        ready = also()  # every round: it may be what keeps the test's chaos going
        held = sum(total_jobs(server, function) for server in servers for function in LEDGER_TASKS)
        if (held == 0 and ready) or time.monotonic() > deadline:
            return held
        time.sleep(0.25)


class Fleet:
    """Ledger workers a test starts, signals, kills and replaces, always by pid.

    `sigkilled` holds the pid of every worker it SIGKILLed: the only processes whose
    job in hand may run again.
    """

    def __init__(self, start_worker: Callable[..., WorkerProcess], servers, db_backend, *options: str,
                 prefix: Sequence[str] = (), registered_on=None):
        self._start_worker = start_worker
        self.servers = [str(server) for server in servers]
        self.env = ledger_env(db_backend)
        self.options = options
        self.prefix = prefix
        self.registered_on = registered_on
        self.workers: list[WorkerProcess] = []
        self.sigkilled: set[int] = set()
        self.sigtermed: set[int] = set()

    def start(self, count: int = 1, *options: str, wait: bool = True) -> list[WorkerProcess]:
        """Start `count` more workers; with `wait`, return once each has registered."""
        started = [self._start_worker(*LEDGER_WORKER, *self.options, *options, servers=self.servers, env=self.env,
                                      prefix=self.prefix, registered_on=self.registered_on, wait=wait)
                   for _ in range(count)]
        self.workers += started
        return started

    def alive(self) -> list[WorkerProcess]:
        return [worker for worker in self.workers if worker.process.poll() is None]

    def sigkill(self, worker: WorkerProcess) -> None:
        self.sigkilled.add(worker.pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.process.wait()

    def sigterm(self, worker: WorkerProcess, timeout: float = 60.0) -> int:
        """Ask it to stop gracefully, and wait until it has."""
        self.sigtermed.add(worker.pid)
        os.kill(worker.pid, signal.SIGTERM)
        return worker.wait(timeout)


def crash_and_restart(server: GearmandServer) -> None:
    """SIGKILL gearmand (nothing flushed, as in a crash), then start it again on the same
    port with the same options, so on the same persistent queue."""
    server.kill()
    start_again(server)


def start_again(server: GearmandServer, timeout: float = 10.0) -> None:
    """Start a stopped gearmand on its port with its options."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            server.start(timeout=max(0.1, deadline - time.monotonic()))
            return
        except RuntimeError:
            if time.monotonic() >= deadline:  # the port may linger briefly
                raise
            time.sleep(0.05)


def sqlite_queue_ids(path: Path) -> set[str]:
    """The job ids in a (stopped) gearmand's SQLite queue: what it replays when it starts."""
    with contextlib.closing(sqlite3.connect(path)) as queue:
        return {job_id for job_id, in queue.execute("SELECT unique_key FROM gearman_queue")}


@contextlib.contextmanager
def tmpfs_directory():
    """A directory in RAM (/dev/shm) for gearmand's SQLite queue, removed afterwards.

    gearmand commits every job it queues and every job done, each with an fsync, which on
    this shared machine's disk took 0.15 to 21 ms depending on the others' load (1,200 to 47
    jobs/s); in RAM the queue survives a SIGKILL of gearmand just the same, which is what the
    tests do (a power cut is the disk's business), and the suite's time does not depend on it.
    """
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    directory = tempfile.mkdtemp(prefix="gearmand-queue-", dir=base)
    try:
        yield Path(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def seeded_random(test: str) -> tuple[random.Random, int]:
    """A `random.Random` for a test's chaos, seeded from RELIABILITY_SEED or afresh; print the seed."""
    seed = int(os.environ.get("RELIABILITY_SEED") or time.time_ns() % 1_000_000)
    print(f"{test}: seed {seed} (rerun with RELIABILITY_SEED={seed})")
    return random.Random(seed), seed
