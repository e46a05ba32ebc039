"""Foreground jobs waiting for a worker nobody runs.

When a wait without a timeout has heard nothing from gearmand for
GEARMAN_SUBMIT_TIMEOUT seconds, the protocol client hands the jobs still
waiting to `warn_if_unserved`, which asks their servers (admin `status`)
whether any worker has registered their functions, and for each one that has
none logs a warning, once per function and process, naming the command that
would serve it. Jobs that finish sooner cost nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from . import conf
from .discovery import worker_command
from .exceptions import GearmanError
from .protocol import AdminClient, JobRequest
from .registry import get_task

logger = logging.getLogger("django_gearman.client")

#: How long the admin question may take: it is only a hint.
ADMIN_TIMEOUT = 2.0

#: Functions warned about in this process.
_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_if_unserved(requests: Sequence[JobRequest], waited: float | None) -> None:
    """Log a warning for each function of these waiting jobs that its server knows no worker for."""
    waiting: dict[str, dict[str, JobRequest]] = {}  # server -> function -> one of its jobs
    for request in requests:
        function = request.function.decode("utf-8", "replace")
        if request.handle is not None and function not in _warned:
            waiting.setdefault(request.handle.server, {}).setdefault(function, request)
    tls_options = conf.get().tls_options
    for server, jobs in waiting.items():
        try:
            with AdminClient(server, ADMIN_TIMEOUT, **tls_options) as admin:
                workers = {row.function: row.available_workers for row in admin.status()}
        except (GearmanError, OSError) as exc:
            logger.debug("could not ask gearmand at %s whether its waiting jobs have workers: %s", server, exc)
            continue
        for function, request in jobs.items():
            logger.debug("foreground job %r has waited %s s; gearmand at %s lists %d workers for it",
                         function, waited, server, workers.get(function, 0))
            if not workers.get(function) and _first_warning(function):
                logger.warning(
                    "foreground job %r (handle %s) has waited %s s, and gearmand at %s has no worker for it; "
                    "without a timeout it waits until one registers. %s",
                    function, request.handle, waited, server, _how_to_serve(function),
                )


def _first_warning(function: str) -> bool:
    with _warned_lock:
        first = function not in _warned
        _warned.add(function)
    return first


def _how_to_serve(function: str) -> str:
    prefix = conf.get().task_prefix
    task = get_task(function.removeprefix(prefix)) if function.startswith(prefix) else None
    if task is None:
        return "Start a worker that registers it (`manage.py gearman_tasks` lists the worker module of each task)."
    command = worker_command(task)
    if command is None:
        return (f"{task.location} is defined outside a worker module, so no gearman_worker serves it "
                "(`manage.py check` explains: django_gearman.W002).")
    return f"Start one: `{command}` serves it (`manage.py gearman_worker --all` in development)."
