"""Gearman in the Django admin: the Servers page, the job lookup, the schedule and the stored jobs.

Thin, as the management commands are: every page shows what a library
function returns (`inspection.inspect_servers`, as `gearman_server_info`
does; `inspection.inspect_job`), and its script polls a JSON view of the same
data. Pages that no table backs belong to table-less models (`Server`,
`JobLookup`), so the admin index lists them under Gearman and Django's view
permissions guard them, as for any model. The schedule's state and the stored
jobs (delayed jobs among them) are the app's tables, shown read-only.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from . import conf
from .client import default_client
from .exceptions import GearmanError
from .inspection import DEFAULT_TIMEOUT, configured_servers, inspect_job, inspect_servers, json_document
from .models import JobLookup, ScheduleState, Server, StoredJob
from .periodic import ScheduleEntry

#: Seconds between two refreshes of a live page.
REFRESH_SECONDS = 2


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shows, never edits: the app's rows are changed by its schedulers, relayers and workers."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PageAdmin(ReadOnlyAdmin):
    """A page in the admin with the URL of a model's change list, and a JSON view of its data."""

    template: str

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", self.admin_site.admin_view(self.page_view), name=f"{name}_changelist"),
            path("status.json", self.admin_site.admin_view(self.json_view), name=f"{name}_status"),
        ]

    def page_view(self, request):
        data = self._allowed_data(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": self.opts.verbose_name_plural.capitalize(),
            "data": data,
            "status_url": f"{reverse(f'admin:{self.opts.app_label}_{self.opts.model_name}_status')}"
                          f"?{request.GET.urlencode()}",
            "refresh_seconds": REFRESH_SECONDS,
            **self.page_context(request),
        }
        return TemplateResponse(request, self.template, context)

    def json_view(self, request):
        return JsonResponse(self._allowed_data(request))

    def _allowed_data(self, request) -> dict:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self.data(request)

    def data(self, request) -> dict:
        raise NotImplementedError

    def page_context(self, request) -> dict:
        return {}


@admin.register(Server)
class ServerAdmin(PageAdmin):
    """Every configured server: what `manage.py gearman_server_info [FILTER] --json` prints."""

    template = "admin/django_gearman/servers.html"

    def data(self, request) -> dict:
        return json_document(inspect_servers(configured_servers(), DEFAULT_TIMEOUT, request.GET.get("q") or None))

    def page_context(self, request) -> dict:
        return {"task_filter": request.GET.get("q", "")}


@admin.register(JobLookup)
class JobLookupAdmin(PageAdmin):
    """One job by handle or job id: gearmand's live status, then its stored result."""

    template = "admin/django_gearman/job_lookup.html"

    def data(self, request) -> dict:
        job = request.GET.get("job", "").strip()
        return inspect_job(job).as_dict() if job else {}

    def page_context(self, request) -> dict:
        return {"job": request.GET.get("job", "").strip()}


@admin.register(ScheduleState)
class ScheduleStateAdmin(ReadOnlyAdmin):
    """GEARMAN_SCHEDULE's entries as the schedulers left them: next and last run of each.
    The schedule itself lives in settings; an entry no longer there is marked so."""

    list_display = ["name", "task", "timing", "next_run_at", "last_slot", "last_run_at", "last_job_id"]
    fields = ["name", "task", "arguments", "timing", "next_run_at", "last_slot", "last_run_at", "last_job_id"]
    readonly_fields = ["task", "arguments"]
    search_fields = ["name", "last_job_id"]

    @admin.display(description="task")
    def task(self, state: ScheduleState) -> str:
        entry = _schedule_entry(state.name)
        return entry.task if entry else "(no longer in GEARMAN_SCHEDULE)"

    @admin.display(description="arguments")
    def arguments(self, state: ScheduleState) -> str:
        entry = _schedule_entry(state.name)
        return _call(list(entry.args), dict(entry.kwargs)) if entry else ""


def _schedule_entry(name: str) -> ScheduleEntry | None:
    return next((entry for entry in conf.get().schedule if entry.name == name), None)


class DueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("now", "due now"), ("later", "due later (delayed)")]

    def queryset(self, request, queryset):
        if self.value() == "now":
            return queryset.filter(due_at__lte=timezone.now())
        if self.value() == "later":
            return queryset.filter(due_at__gt=timezone.now())
        return queryset


@admin.register(StoredJob)
class StoredJobAdmin(ReadOnlyAdmin):
    """Background jobs kept until gearmand has them: delayed jobs waiting for their time, periodic
    runs and on-commit jobs waiting for a relayer, each with its sending attempts."""

    list_display = ["job_id", "function", "due_at", "priority", "attempts", "last_error", "claimed_until"]
    list_filter = [DueFilter, "priority"]
    fields = ["job_id", "function", "arguments", "priority", "due_at", "created_at", "attempts", "last_error",
              "claimed_until"]
    readonly_fields = ["arguments"]
    search_fields = ["job_id", "function"]

    @admin.display(description="arguments")
    def arguments(self, job: StoredJob) -> str:
        """What the task will get, if this side can read it; raw data as bytes."""
        try:
            args, kwargs = default_client().payload_codec.decode_request(job.function, job.job_id, bytes(job.payload))
        except GearmanError:
            return f"(not a request this project encodes: {len(job.payload)} bytes) {bytes(job.payload)[:200]!r}"
        return _call(args, kwargs)


def _call(args: list, kwargs: dict) -> str:
    return ", ".join([*map(repr, args), *(f"{name}={value!r}" for name, value in kwargs.items())])
