"""What the configured gearmand servers and the installed apps offer, and what became of a job.

Behind `manage.py gearman_server_info` and `gearman_tasks`, and the admin's
pages. Each server is read once into a `ServerReport`; tables and JSON are
both rendered from it, so the two can never disagree.
"""

from __future__ import annotations

import json
import pprint
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from django.db import DatabaseError
from prettytable import PrettyTable

from . import conf
from .client import default_client
from .discovery import discover
from .exceptions import GearmanError, ResultNotFound, UnknownWorker
from .protocol import AdminClient, FunctionStatus, JobHandle, JobStatus, ServerAddress, WorkerInfo

if TYPE_CHECKING:
    from .results import StoredResult

HOST_COLUMNS = ("Gearman Server Host", "Gearman Server Version", "Ping Response Time")
TASK_COLUMNS = ("Task Name", "Total Workers", "Running Jobs", "Queued Jobs")
WORKER_COLUMNS = ("Worker IP", "Registered Tasks", "Client ID", "File Descriptor")
LISTING_COLUMNS = ("App", "Worker", "Queue", "Gearman Function")
LEFT_ALIGNED = {"Task Name", "Registered Tasks", "Client ID", "Gearman Function"}
#: Seconds a server may take to answer before it is reported as down.
DEFAULT_TIMEOUT = 2.0


@dataclass(frozen=True)
class ServerReport:
    """One server's answers, or the reason it gave none (`error`)."""

    address: str
    version: str | None = None
    ping: float | None = None
    functions: tuple[FunctionStatus, ...] = ()
    workers: tuple[WorkerInfo, ...] = ()
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.error is None

    def matching(self, text: str) -> ServerReport:
        """Only functions whose name contains `text` (case-sensitive), and workers offering one of them."""
        workers = []
        for worker in self.workers:
            names = tuple(name for name in worker.functions if text in name)
            if names:
                workers.append(replace(worker, functions=names))
        functions = tuple(status for status in self.functions if text in status.function)
        return replace(self, functions=functions, workers=tuple(workers))

    def as_dict(self) -> dict:
        return {
            "host": self.address,
            "version": self.version,
            "ping_seconds": self.ping,
            "error": self.error,
            "tasks": [
                {"name": status.function, "total_workers": status.available_workers,
                 "running_jobs": status.running, "queued_jobs": status.queued}
                for status in self.functions
            ],
            "workers": [
                {"ip": worker.ip, "registered_tasks": list(worker.functions),
                 "client_id": worker.client_id, "file_descriptor": worker.fd}
                for worker in self.workers
            ],
        }


def configured_servers() -> list[str]:
    """GEARMAN_CLIENT_SERVERS then GEARMAN_WORKER_SERVERS, each server once ("host" means "host:4730")."""
    settings = conf.get()
    return list(dict.fromkeys(str(ServerAddress.parse(server))
                              for server in settings.client_servers + settings.worker_servers))


def inspect_server(address: str, timeout: float, tls_options: dict | None = None) -> ServerReport:
    """Version, ping, function status and workers of one server (`tls_options`: GearmanSettings.tls_options).

    Connections without functions (clients, admin tools, this one) are left
    out: they are not workers. Rows are sorted, because gearmand's own order
    changes from one call to the next.
    """
    try:
        with AdminClient(address, timeout, **(tls_options or {})) as admin:
            version = admin.version()
            ping = admin.ping()
            functions = sorted(admin.status(), key=lambda status: status.function)
            workers = sorted(
                (replace(worker, functions=tuple(sorted(worker.functions))) for worker in admin.workers()
                 if worker.functions),
                key=lambda worker: worker.fd,
            )
    except GearmanError as exc:
        return ServerReport(address, error=str(exc))
    return ServerReport(address, version, ping, tuple(functions), tuple(workers))


def inspect_servers(addresses: list[str], timeout: float, task_filter: str | None = None) -> list[ServerReport]:
    """A report per server, asked in parallel so one slow server costs `timeout`, not one each."""
    if not addresses:
        return []
    tls_options = conf.get().tls_options
    with ThreadPoolExecutor(max_workers=len(addresses)) as pool:
        reports = list(pool.map(lambda address: inspect_server(address, timeout, tls_options), addresses))
    return [report.matching(task_filter) for report in reports] if task_filter else reports


def render_tables(reports: list[ServerReport]) -> str:
    """Per server: host, tasks and workers tables; a server that did not answer gets its host row only."""
    blocks = []
    for report in reports:
        if not report.answered:
            blocks.append(_table(HOST_COLUMNS, [[report.address, f"DOWN: {printable(report.error or '')}", "-"]]))
            continue
        blocks.append(_table(HOST_COLUMNS, [[report.address, printable(report.version or ""),
                                             "-" if report.ping is None else f"{report.ping * 1000:.3f} ms"]]))
        data = report.as_dict()
        blocks.append(_table(TASK_COLUMNS, [
            [printable(task["name"]), task["total_workers"], task["running_jobs"], task["queued_jobs"]]
            for task in data["tasks"]
        ]))
        blocks.append(_table(WORKER_COLUMNS, [
            [printable(worker["ip"]), "\n".join(map(printable, worker["registered_tasks"])),
             printable(worker["client_id"]), worker["file_descriptor"]]
            for worker in data["workers"]
        ]))
    return "\n\n".join(blocks)


def json_document(reports: list[ServerReport]) -> dict:
    """What `--json` prints, and what the admin's Servers page shows and polls."""
    return {"servers": [report.as_dict() for report in reports]}


def render_json(reports: list[ServerReport], *, indent: int | None = 2) -> str:
    # ensure_ascii (the default) escapes every control character too: nothing reaches a terminal raw.
    return json.dumps(json_document(reports), indent=indent)


def printable(text: str) -> str:
    """`text` with what a terminal would act on (escapes, line breaks) and backslashes written as in a
    Python string literal: names come from whoever can reach gearmand."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(character if character.isprintable() and character != "\\"
                   else character.encode("unicode_escape").decode("ascii") for character in text)


def _table(columns, rows) -> str:
    table = PrettyTable(columns)
    for column in LEFT_ALIGNED.intersection(columns):
        table.align[column] = "l"
    table.add_rows(rows)
    return table.get_string()


# -- one job -------------------------------------------------------------------


@dataclass(frozen=True)
class JobReport:
    """One job: what the result store keeps of it (`stored`) and gearmand's live status of it
    (`status`, asked by its handle), or why they could not say (`error`)."""

    job: str  # as asked for: a job id, or a handle string
    handle: str | None = None  # str(JobHandle), once known
    status: JobStatus | None = None
    stored: StoredResult | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        """Nothing more will change: the stored result is final, or gearmand does not have the job
        (or cannot say) and it is not waiting for a worker to take it."""
        if self.stored is not None and self.stored.finished:
            return True
        if self.status is not None and self.status.known:
            return False
        return self.stored is None or bool(self.stored.handle)

    def as_dict(self) -> dict:
        status, stored = self.status, self.stored
        return {
            "job": self.job,
            "handle": self.handle,
            "status": None if status is None else {
                "known": status.known, "running": status.running,
                "numerator": status.numerator, "denominator": status.denominator,
            },
            "stored": None if stored is None else stored_dict(stored),
            "error": self.error,
            "finished": self.finished,
        }


def stored_dict(stored: StoredResult) -> dict:
    """A stored result as JSON carries it: the call and the value as text, times in ISO 8601."""
    def when(moment):
        return None if moment is None else moment.isoformat()

    return {
        "job_id": stored.job_id, "task": stored.task, "status": stored.status, "attempts": stored.attempts,
        "call": describe_call(stored), "value": describe_value(stored) if stored.succeeded else None,
        "error": None if stored.error is None else {
            "type": stored.error.type, "message": stored.error.message, "traceback": stored.error.traceback},
        "worker_id": stored.worker_id, "requeued_from": stored.requeued_from,
        "enqueued_at": when(stored.enqueued_at), "started_at": when(stored.started_at),
        "finished_at": when(stored.finished_at),
    }


def describe_call(stored: StoredResult) -> str:
    """The job as a call, `task(1, 'two', three=3)`; `task(<raw data>)` for raw data."""
    if stored.arguments is None:
        return f"{stored.task}(<raw data>)"
    return f"{stored.task}({call_arguments(stored.arguments.get('args', ()), stored.arguments.get('kwargs', {}))})"


def call_arguments(args, kwargs: dict) -> str:
    """Arguments as a call writes them: `1, 'two', three=3`."""
    return ", ".join([*map(repr, args), *(f"{name}={value!r}" for name, value in kwargs.items())])


def describe_value(stored: StoredResult) -> str:
    return pprint.pformat(stored.value)


def inspect_job(job: str) -> JobReport:
    """A job by its job id or its handle string (`str(JobHandle)`): its stored result (`results.get`,
    `results.for_handle`), and gearmand's live status of it while that result is not final."""
    try:
        stored = _stored(job)
        if stored is not None:
            return _by_id(job, stored)
        try:
            handle = JobHandle.from_string(job)
        except ValueError:
            return JobReport(job, error=f"no job has the id {job!r} in the result store, and it is not a job "
                                        "handle (such as H:host:42@127.0.0.1:4730)")
        return _by_handle(job, handle)
    except DatabaseError as exc:  # the store may live in a database of its own (routing)
        return JobReport(job, error=f"the result store could not be read ({type(exc).__name__}: {exc})")


def _by_id(job: str, stored: StoredResult) -> JobReport:
    if stored.finished or not stored.handle:  # final, or no worker has taken it yet
        return JobReport(job, stored.handle or None, stored=stored)
    report = _live(job, stored.handle)
    if report.status is not None and not report.status.known:
        stored = _stored(job) or stored  # gone from gearmand: its worker wrote the outcome first
    return replace(report, stored=stored)


def _by_handle(job: str, handle: JobHandle) -> JobReport:
    report = _live(job, handle)
    stored = _stored(str(handle), by_handle=True)  # read after gearmand: a job it let go of is final here
    if stored is None or not stored.finished:
        return replace(report, stored=stored)
    if report.status is not None and report.status.known:
        return report  # that row is an earlier job's: a restarted gearmand hands its handles out again
    return JobReport(job, str(handle), stored=stored)  # final: as by its id


def _live(job: str, handle: JobHandle | str) -> JobReport:
    try:
        status = default_client().get_job_status(handle, poll_timeout=DEFAULT_TIMEOUT)
    except (GearmanError, ValueError) as exc:  # ValueError: a server this project does not submit to
        return JobReport(job, str(handle), error=str(exc))
    return JobReport(job, str(handle), status)


def _stored(key: str, *, by_handle: bool = False) -> StoredResult | None:
    from . import results  # the store: imported once a job is looked up, not by every project with the admin

    try:
        return results.for_handle(key) if by_handle else results.get(key)
    except ResultNotFound:
        return None


# -- tasks defined in code ---------------------------------------------------


@dataclass(frozen=True)
class TaskListing:
    app: str
    worker_module: str
    queue: str | None
    function: str


def discovered_tasks(app_label: str | None = None, queue: str | None = None) -> list[TaskListing]:
    """Every task of every installed app's gearman_workers, optionally of one app and/or queue.

    An app or queue that has no tasks raises `UnknownWorker` listing those that do.
    """
    listings = [
        TaskListing(module.app_label, module.name, task.queue, task.function_name)
        for module in discover()
        for task in module.tasks
    ]
    if app_label is not None:
        apps = sorted({listing.app for listing in listings})
        listings = [listing for listing in listings if listing.app == app_label]
        if not listings:
            raise UnknownWorker(f"no tasks in app {app_label!r}; apps with tasks: {', '.join(apps) or 'none'}")
    if queue is not None:
        queues = sorted({listing.queue for listing in listings if listing.queue is not None})
        listings = [listing for listing in listings if listing.queue == queue]
        if not listings:
            raise UnknownWorker(f"no tasks in queue {queue!r}; queues: {', '.join(queues) or 'none'}")
    return listings


def render_task_listing(listings: list[TaskListing]) -> str:
    return _table(LISTING_COLUMNS, [
        [listing.app, listing.worker_module, listing.queue or "-", listing.function] for listing in listings
    ])
