"""Django integration for the Gearman job server.

Public names resolve lazily, so `import django_gearman.protocol` (which has
no Django dependency) does not import Django.
"""

import importlib

_EXPORTS = {
    "GearmanClient": "client",
    "GearmanError": "exceptions",
    "GearmanJobFailed": "exceptions",
    "GearmanServerUnavailable": "exceptions",
    "GearmanTaskTimeout": "exceptions",
    "GearmanTimeout": "exceptions",
    "PayloadError": "exceptions",
    "ProtocolError": "exceptions",
    "ResultNotFound": "exceptions",
    "UnverifiedFailureReport": "exceptions",
    "JobHandle": "protocol",
    "JobStatus": "protocol",
    "SubmittedJob": "client",
    "Task": "tasks",
    "gearman_task": "tasks",
    "get_result": "client",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'django_gearman' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__():
    return __all__
