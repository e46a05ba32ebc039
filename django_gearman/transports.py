"""Where a `GearmanClient`'s jobs run: on gearmand, or in this process.

The client picks a transport each time it reads new settings:
`GearmandTransport` (the protocol `Client`) normally, `InProcessTransport`
with GEARMAN_ALWAYS_EAGER. Both run a batch of `JobRequest`s and return each
job's outcome, in order: its reply bytes, its `JobHandle` (background jobs,
and jobs nobody waits for), or the `GearmanError` it ended with (for a failed
job, a `GearmanJobFailed` carrying the worker's report unread: reading and
verifying replies and reports is the client's).
"""

from __future__ import annotations

from collections.abc import Sequence

from .discovery import discover
from .exceptions import GearmanError, GearmanJobFailed, GearmanServerUnavailable
from .execution import LocalJob, eager_runtime, execute
from .protocol import Client, JobHandle, JobRequest, JobStatus
from .registry import TaskLike, get_task
from .serializers import PayloadCodec
from .unserved import warn_if_unserved

Outcome = bytes | JobHandle | GearmanError


class GearmandTransport:
    """Jobs go to gearmand servers, through one protocol `Client` (connections made lazily)."""

    in_process = False

    def __init__(self, servers: tuple[str, ...], submit_timeout: float | None, **options):
        """`options` go to the protocol `Client` (TLS, max_payload_size)."""
        self.servers = servers
        self.client = Client(servers, submit_timeout=submit_timeout,
                             on_long_wait=lambda requests: warn_if_unserved(requests, submit_timeout), **options)

    def run(self, requests: list[JobRequest], retries: list[int], *, wait: bool,
            timeout: float | None) -> list[Outcome]:
        """Submit pipelined; then resubmit, together, the jobs that failed and have retries left."""
        pending: Sequence[int] = range(len(requests))
        while pending:
            self.client.submit_multiple_jobs([requests[index] for index in pending], wait_until_complete=wait,
                                             poll_timeout=timeout)
            pending = [index for index in pending if wait and retries[index] and _retryable(requests[index])]
            for index in pending:
                retries[index] -= 1
                requests[index] = _fresh(requests[index])
        return [_outcome(request, waited=wait) for request in requests]

    def get_job_status(self, handle: JobHandle | str, *, poll_timeout: float | None) -> JobStatus:
        return self.client.get_job_status(handle, poll_timeout=poll_timeout)

    def close(self) -> None:
        self.client.close()


class InProcessTransport:
    """GEARMAN_ALWAYS_EAGER: each job runs here, at submit, through the encoding a worker would see.

    Not resubmitted (`max_retries`); a task's own `retries` follow at once,
    without backoff; no time limit; no worker signals are sent; a background
    job has run (or failed) by the time its handle is returned.
    """

    in_process = True

    def __init__(self, payload_codec: PayloadCodec, task_prefix: str, store_results: bool):
        self.payload_codec = payload_codec
        self.task_prefix = task_prefix
        self.store_results = store_results

    def run(self, requests: list[JobRequest], retries: list[int], *, wait: bool,
            timeout: float | None) -> list[Outcome]:
        return [self._run(request, wait) for request in requests]

    def _run(self, request: JobRequest, wait: bool) -> Outcome:
        name = request.function.decode().removeprefix(self.task_prefix)
        task = _defined_task(name)
        if task is None:
            return GearmanJobFailed(name, f"no task named {name!r} is defined in this process (GEARMAN_ALWAYS_EAGER)")
        job = LocalJob(request)
        handle = JobHandle(job.handle.decode(), job.server, job.unique.decode("utf-8", "backslashreplace"))
        try:
            _, reply = execute(task, job, self.payload_codec, eager_runtime(self.store_results))
        except Exception as exc:
            # The report a worker would send; the client reads it as it reads a worker's.
            report = self.payload_codec.encode_failure(request.function, request.unique, exc)
            failure = GearmanJobFailed(name, handle=str(handle), warnings=(report,))
            failure.__cause__ = exc  # raised later by the client: keep the task's own traceback
            return failure
        return handle if request.background or not wait else reply

    def get_job_status(self, handle: JobHandle | str, *, poll_timeout: float | None) -> JobStatus:
        return JobStatus(known=False, running=False, numerator=0, denominator=0)  # eager jobs are done


def _outcome(request: JobRequest, *, waited: bool) -> Outcome:
    if not waited and request.error is None:
        assert request.handle is not None  # submit_multiple_jobs gave every job its handle or an error
        return request.handle
    try:
        return request.outcome()
    except GearmanError as error:  # GearmanJobFailed with the worker's report as it came: the client reads it
        return error


def _defined_task(name: str) -> TaskLike | None:
    """The task named `name`, importing the worker modules if it is not defined yet."""
    task = get_task(name)
    if task is None:
        discover()
        task = get_task(name)
    return task


def _retryable(request: JobRequest) -> bool:
    return request.failed or isinstance(request.error, GearmanServerUnavailable)


def _fresh(request: JobRequest) -> JobRequest:
    return JobRequest(request.function, request.data, request.unique, request.priority, request.background)
