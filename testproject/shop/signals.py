"""Makes the worker hooks visible outside the worker process, for the tests.

When the environment variable SHOP_HOOK_LOG names a file, every
django_gearman worker signal appends one JSON line to it:
``{"pid": ..., "signal": "task_finished", "sender": "<Task shop.worker.add>",
"job": "<Job H:... shop.worker.add>", "result": "5"}`` (the signal's own
arguments, as repr). Without the variable the receivers do nothing. It is
also an example of connecting hooks in `AppConfig.ready()`.
"""

import json
import os

from django_gearman import signals

HOOKS = ("worker_started", "worker_stopping", "task_started", "task_finished", "task_retried", "task_failed")


def connect_hook_log() -> None:
    for name in HOOKS:
        getattr(signals, name).connect(_recorder(name), weak=False, dispatch_uid=f"shop-hook-log-{name}")


def _recorder(name):
    def record(sender, signal, **arguments):
        path = os.environ.get("SHOP_HOOK_LOG")
        if path:
            entry = {"pid": os.getpid(), "signal": name, "sender": repr(sender)}
            entry.update((key, repr(value)) for key, value in arguments.items())
            with open(path, "a") as log:
                log.write(json.dumps(entry) + "\n")

    return record
