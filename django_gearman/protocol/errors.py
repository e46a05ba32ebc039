"""The small exception hierarchy shared by the protocol core and the Django layer."""

from __future__ import annotations


def exception_message(exc: BaseException) -> str:
    """`str(exc)`, or a placeholder if that raises: reporting a task's error must never kill a worker."""
    try:
        return str(exc)
    except Exception:
        return f"<{type(exc).__qualname__}: str() failed>"


class GearmanError(Exception):
    """Base class of every error this package raises."""

    #: Set on the error that `GearmanClient.submit_multiple_jobs` raises for a
    #: failed job: every job's outcome (value, handle or error), in order.
    results: list[object] | None = None


class ProtocolError(GearmanError):
    """A peer sent bytes that are not valid Gearman, or we were asked to send such bytes."""


class GearmanServerUnavailable(GearmanError, ConnectionError):
    """No configured server could be reached, or one went away mid-request."""


class GearmanTLSError(GearmanServerUnavailable):
    """The TLS handshake or session with a server failed: an untrusted or
    mismatched certificate, a refused client certificate, or no TLS there."""


class GearmanPayloadTooLarge(GearmanError):
    """Job data, a result or a report is longer than `max_payload_size`."""


class GearmanTimeout(GearmanError, TimeoutError):
    """A blocking call did not finish within its timeout."""


class GearmanJobFailed(GearmanError):
    """A job ended in WORK_FAIL or WORK_EXCEPTION.

    `exception_type`, `message` and `traceback` describe the remote error when
    the worker reported one; `exception_data` and `warnings` are the raw bytes
    the worker sent. `handle` is where the job ran, as `str(JobHandle)`
    ("H:host:1@127.0.0.1:4730", what `JobHandle.from_string` reads), or None.
    """

    def __init__(
        self,
        task: str,
        message: str = "",
        *,
        exception_type: str | None = None,
        traceback: str = "",
        handle: str | None = None,
        exception_data: bytes | None = None,
        warnings: tuple[bytes, ...] = (),
    ):
        self.task = task
        self.message = message
        self.exception_type = exception_type
        self.traceback = traceback
        self.handle = handle
        self.exception_data = exception_data
        self.warnings = warnings
        described = f"{exception_type}: {message}" if exception_type else message
        super().__init__(f"job {task!r} failed" + (f": {described}" if described else ""))
