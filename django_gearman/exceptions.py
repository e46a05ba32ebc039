"""Every exception django_gearman raises; all derive from `GearmanError`.

The protocol core's own live in `protocol/errors.py` (the protocol never
imports the Django layer) and are re-exported here, so this is the one module
to import errors from. It imports nothing else of the package.
"""

from django.core.exceptions import ImproperlyConfigured

from .protocol.errors import (
    GearmanError,
    GearmanJobFailed,
    GearmanPayloadTooLarge,
    GearmanServerUnavailable,
    GearmanTimeout,
    GearmanTLSError,
    ProtocolError,
)

__all__ = [
    "GearmanError",
    "GearmanJobFailed",
    "GearmanPayloadTooLarge",
    "GearmanServerUnavailable",
    "GearmanTaskTimeout",
    "GearmanTLSError",
    "GearmanTimeout",
    "PayloadError",
    "ProtocolError",
    "RequeueError",
    "ResultNotFound",
    "TasksFrameworkMissing",
    "UnknownWorker",
    "UnverifiedFailureReport",
]


class PayloadError(GearmanError):
    """A job's bytes could not be decoded, or failed signature verification."""


class UnverifiedFailureReport(GearmanJobFailed, PayloadError):
    """A job failed, but under GEARMAN_SIGNING_KEY its failure report is not one
    signed for it (unsigned, forged, or another job's), so nothing it claims is
    believed: `exception_type` is None, `message` says what is wrong and quotes
    the unverified text, and `exception_data`/`warnings` hold the raw bytes."""


class UnknownWorker(GearmanError, LookupError):
    """Nothing to serve by that name: no such app, worker module, queue or TASKS backend.

    The message lists what exists. (A LookupError too, but callers catch this
    class: a KeyError raised inside a worker module is not an unknown worker.)
    """


class TasksFrameworkMissing(GearmanError, ImproperlyConfigured):
    """Django's tasks framework is not installed: built into Django 6, on Django 5.2
    it is the django-tasks backport."""


class GearmanTaskTimeout(GearmanError):
    """Raised inside a task that ran past its time limit (`@gearman_task(timeout=...)`,
    GEARMAN_TASK_TIMEOUT); its job fails with this as the error type."""


class ResultNotFound(GearmanError, LookupError):
    """No stored result for that job id: the result store was off for it, or it was pruned."""


class RequeueError(GearmanError):
    """A stored job cannot be sent again (its task is gone, its payload cannot be read); nothing was sent."""
