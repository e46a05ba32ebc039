"""The worker runtime behind `manage.py gearman_worker`."""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import sys
import threading
import time

from django.db import close_old_connections

from . import conf, signals
from .client import default_client
from .execution import Runtime, execute, gearmand_timeout_ms
from .outbox import Relayer
from .protocol import Job
from .protocol import Worker as ProtocolWorker
from .registry import TaskLike
from .serializers import PayloadCodec
from .spec import WorkerSpec

logger = logging.getLogger("django_gearman.worker")

#: Seconds between a worker's passes over the outbox, by default.
OUTBOX_INTERVAL = 5.0


class GearmanWorker:
    """Serves the tasks of a `WorkerSpec` until asked to stop.

    The first SIGTERM/SIGINT stops taking jobs, finishes the job in hand and
    those already fetched ahead (`prefetch`), delivers their results, sends
    `worker_stopping` and returns; a second one exits the process at once,
    and gearmand gives the unfinished jobs to other workers (counting an
    attempt for each under `--job-retries`). `max_jobs` is never exceeded by
    prefetching.
    """

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        servers=None,
        max_jobs: int | None = None,
        max_memory_mb: float | None = None,
        prefetch: int = 1,
        outbox_interval: float | None = OUTBOX_INTERVAL,
    ):
        """`outbox_interval`: seconds between passes that send stored jobs (the outbox of
        `submit_on_commit`) that are due; None: this worker sends none."""
        settings = conf.get()
        self.spec = spec
        self.payload_codec = PayloadCodec.from_settings(settings)
        self.max_jobs = max_jobs
        self.max_memory_mb = max_memory_mb
        self.jobs_done = 0
        self.client_id = f"{socket.gethostname()}:{os.getpid()}:{spec.label}"
        self.servers = tuple(servers or settings.worker_servers)
        self.protocol_worker = ProtocolWorker(self.servers, client_id=self.client_id, prefetch=prefetch,
                                              max_jobs=max_jobs, max_payload_size=settings.max_payload_size,
                                              **settings.tls_options)
        self.runtime = Runtime(
            worker_id=self.client_id, store_results=settings.store_results, task_timeout=settings.task_timeout,
            # SIGALRM is delivered to the main thread only: a worker run in another thread has no time limits
            time_limits=threading.current_thread() is threading.main_thread(),
            wait=time.sleep, notify=_send_hook,
        )
        for task in self.tasks:
            self.protocol_worker.register(settings.task_prefix + task.name, self._callback(task),
                                          gearmand_timeout_ms(task, settings.task_timeout))
        self.outbox = Relayer(default_client())
        if outbox_interval is not None:
            self.protocol_worker.every(outbox_interval, self._relay_outbox)
        self._signals_received = 0

    def __repr__(self) -> str:
        return f"<GearmanWorker {self.spec.label}>"

    @property
    def tasks(self) -> tuple[TaskLike, ...]:
        return self.spec.tasks

    @property
    def queue(self) -> str | None:
        return self.spec.queue

    def _callback(self, task: TaskLike):
        payload_codec, runtime = self.payload_codec, self.runtime

        def run(job: Job) -> bytes | None:
            close_old_connections()
            debug = logger.isEnabledFor(logging.DEBUG)
            if debug:
                logger.debug("task %s (job %s, id %s) started", task.name, *_names(job))
            _send_hook("task_started", sender=task, job=job)
            try:
                result, reply = execute(task, job, payload_codec, runtime)
            except Exception as exc:
                logger.exception("task %s (job %s, id %s) failed", task.name, *_names(job))
                job.send_fail(payload_codec.encode_failure(job.function, job.unique, exc))
                _send_hook("task_failed", sender=task, job=job, exception=exc)
                reply = None
            else:
                if debug:
                    logger.debug("task %s (job %s, id %s) done", task.name, *_names(job))
                _send_hook("task_finished", sender=task, job=job, result=result)
            finally:
                close_old_connections()
            self._after_job()
            return reply

        return run

    def _relay_outbox(self) -> None:
        close_old_connections()
        try:
            self.outbox.relay()
        finally:
            close_old_connections()

    def _after_job(self) -> None:
        self.jobs_done += 1
        if self.protocol_worker.stopping:
            return  # finishing the jobs fetched ahead: the reason was logged already
        if self.max_jobs is not None and self.jobs_done >= self.max_jobs:
            logger.info("%r did %d jobs (--max-jobs); exiting for the supervisor to restart it", self, self.jobs_done)
            self.protocol_worker.stop()
        elif self.max_memory_mb is not None and (used := _rss_mb()) > self.max_memory_mb:
            logger.info("%r uses %.0f MB (> --max-memory %s); exiting for the supervisor to restart it",
                        self, used, self.max_memory_mb)
            self.protocol_worker.stop()

    def handle_signal(self, signum, frame) -> None:
        self._signals_received += 1
        name = signal.Signals(signum).name
        if self._signals_received == 1:
            logger.warning("%r got %s: finishing the jobs in hand, then exiting (send it again to exit now)",
                           self, name)
            self.protocol_worker.stop()
            return
        logger.warning("%r got %s again: exiting now; gearmand hands any unfinished job to another worker "
                       "(counting an attempt under --job-retries)", self, name)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # e.g. re-entered mid-write: exiting matters more than the last log line
                pass
        # os._exit, not SystemExit: task code that catches BaseException must
        # not be able to keep the process alive. The kernel closes the sockets,
        # which is what makes gearmand re-queue the job in hand.
        os._exit(128 + signum)

    def run(self) -> None:
        """Serve until stopped (signal, --max-jobs, --max-memory); returns normally then."""
        previous = {sig: signal.signal(sig, self.handle_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            logger.info("%r serving %s from %s", self, ", ".join(t.name for t in self.tasks), ", ".join(self.servers))
            _send_hook("worker_started", sender=self)
            self.protocol_worker.work()
            logger.info("%r stopped taking jobs after %d", self, self.jobs_done)
            _send_hook("worker_stopping", sender=self)
        finally:
            self.protocol_worker.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _names(job: Job) -> tuple[str, str]:
    """How the log names a job: its handle (this run on this server) and its id (the job across runs and servers)."""
    return job.handle.decode("latin-1"), job.unique.decode("utf-8", "backslashreplace")


def _send_hook(name: str, **arguments) -> None:
    """Hooks observe the worker: a receiver that raises is logged, and never
    turns a finished job into a failed one or keeps a worker from exiting."""
    hook = getattr(signals, name)
    if not hook.receivers:  # what send_robust checks first, without its call
        return
    for receiver, outcome in hook.send_robust(**arguments):
        if isinstance(outcome, Exception):
            logger.error("%s receiver %r raised", name, receiver, exc_info=outcome)


def _rss_mb() -> float:
    """Current resident memory; peak resident memory where /proc is missing."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        return peak / (2**20 if sys.platform == "darwin" else 2**10)
