"""Running one job: decode its request, call the task, encode its reply.

The worker runtime (`worker.py`) and the in-process transport of
GEARMAN_ALWAYS_EAGER (`transports.py`) both run jobs through `execute`, so a
task sees the same arguments, and its caller the same reply, either way. It
raises what the task raised; each caller reports a failure its own way.
"""

from __future__ import annotations

import uuid
from typing import Any

from .exceptions import PayloadError
from .protocol import Job, JobRequest, to_bytes
from .registry import TaskLike
from .serializers import PayloadCodec


def execute(task: TaskLike, job: Job | LocalJob, payload_codec: PayloadCodec) -> tuple[Any, bytes]:
    """Run `task` for `job`: the task's return value, and the reply bytes that carry it."""
    value = _call(task, job, payload_codec)
    if task.raw:
        return value, to_bytes(value, f"the return value of raw task {task.name}")
    return value, payload_codec.encode_result(job.function, job.unique, value)


def _call(task: TaskLike, job: Job | LocalJob, payload_codec: PayloadCodec) -> Any:
    if task.raw:
        return task.func(job.data, job=job) if task.takes_job else task.func(job.data)
    args, kwargs = payload_codec.decode_request(job.function, job.unique, job.data)
    if task.takes_job:
        if "job" in kwargs:
            raise PayloadError(f"task {task.name} receives the running job as `job`; a caller cannot pass `job`")
        kwargs["job"] = job
    return task.func(*args, **kwargs)


class LocalJob:
    """The job a task gets when it runs in this process (GEARMAN_ALWAYS_EAGER): a
    `protocol.Job`'s attributes, with what the task reports kept in lists."""

    server = "eager"

    def __init__(self, request: JobRequest):
        self.handle = f"eager:{uuid.uuid4().hex}".encode()
        self.function = request.function
        self.unique = request.unique
        self.data = request.data
        self.statuses: list[tuple[int, int]] = []
        self.data_chunks: list[bytes] = []
        self.warnings: list[bytes] = []

    def send_status(self, numerator: int, denominator: int) -> None:
        self.statuses.append((int(numerator), int(denominator)))

    def send_data(self, data: bytes | str) -> None:
        self.data_chunks.append(to_bytes(data))

    def send_warning(self, data: bytes | str) -> None:
        self.warnings.append(to_bytes(data))
