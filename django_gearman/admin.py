"""Gearman in the Django admin: the Servers page, the job lookup, the result store's jobs, the
schedule and the stored jobs.

Thin, as the management commands are: every page shows what a library
function returns (`inspection.inspect_servers`, as `gearman_server_info`
does; `inspection.inspect_job`; a stored job as `results.get` reads it), and
the live pages' script polls a JSON view of the same data. Requeueing is
`requeue.requeue`, what `gearman_requeue` runs. Pages that no table backs
belong to table-less models (`Server`, `JobLookup`), so the admin index lists
them under Gearman and Django's view permissions guard them, as for any model.
The schedule's state and the stored jobs (delayed jobs among them) are the
app's tables, shown read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from . import conf
from .client import default_client
from .exceptions import GearmanError, RequeueError
from .inspection import (
    DEFAULT_TIMEOUT,
    call_arguments,
    configured_servers,
    describe_call,
    describe_value,
    inspect_job,
    inspect_servers,
    json_document,
)
from .models import JobLookup, JobResult, ScheduleState, Server, StoredJob
from .periodic import ScheduleEntry

if TYPE_CHECKING:
    from .requeue import Requeued

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
        if not job:
            return {}
        report = inspect_job(job).as_dict()
        if report["stored"] and request.user.has_perm("django_gearman.view_jobresult"):
            report["stored"]["admin_url"] = result_url(report["stored"]["job_id"])
        return report

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
        return call_arguments(list(entry.args), dict(entry.kwargs)) if entry else ""


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
        return call_arguments(args, kwargs)


def result_url(job_id: str) -> str:
    return reverse("admin:django_gearman_jobresult_change", args=[quote(job_id)])


def lookup_url(job_id: str) -> str:
    return f"{reverse('admin:django_gearman_joblookup_changelist')}?{urlencode({'job': job_id})}"


@admin.register(JobResult)
class JobResultAdmin(admin.ModelAdmin):
    """The result store's jobs: read-only, deleted with the delete permission, failed ones sent
    again with "Can requeue failed jobs"."""

    list_display = ("job_id", "task", "status", "attempts", "enqueued_at", "finished_at")
    list_filter = ("status", "task", "enqueued_at", "finished_at")
    # Whole and exact, so that the indexes serve them (the admin's "=" is iexact, which none does).
    search_fields = ("job_id__exact", "handle__exact", "requeued_from__exact")
    search_help_text = "A job id, a handle, or the id of the job a requeued one was sent again for."
    actions = ["requeue_failed"]
    change_form_template = "admin/django_gearman/jobresult/change_form.html"
    fieldsets = (
        (None, {"fields": ("job_id", "status", "call", "priority", "requeued_from_link", "requeued_as")}),
        ("Outcome", {"fields": ("return_value_text", "error_type", "error_message", "traceback_text")}),
        ("Runs", {"fields": ("attempts", "worker_id", "handle", "enqueued_at", "started_at", "last_attempted_at",
                             "finished_at")}),
        ("On the wire", {"classes": ["collapse"], "fields": ("function", "arguments", "return_value")}),
    )

    def has_add_permission(self, request):
        return False  # jobs are submitted, not typed in

    def has_change_permission(self, request, obj=None):
        return False  # a record of what happened: its page is read-only

    def has_requeue_permission(self, request) -> bool:
        return request.user.has_perm("django_gearman.requeue_jobresult")

    def get_urls(self):
        requeue_one = self.admin_site.admin_view(require_POST(self.requeue_view))
        return [path("<path:object_id>/requeue/", requeue_one, name="django_gearman_jobresult_requeue"),
                *super().get_urls()]

    # -- the detail page: the row as results.get reads it ---------------------------------

    def get_readonly_fields(self, request, obj=None):
        return [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]

    def get_object(self, request, object_id, from_field=None):
        from . import results  # as requeue below: not imported by every project with the admin

        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.stored = results.from_row(obj)
        return obj

    @admin.display(description="call")
    def call(self, obj):
        return format_html("<code>{}</code>", describe_call(obj.stored))

    @admin.display(description="return value")
    def return_value_text(self, obj):
        return format_html("<pre>{}</pre>", describe_value(obj.stored)) if obj.stored.succeeded else "-"

    @admin.display(description="traceback")
    def traceback_text(self, obj):
        return format_html("<pre>{}</pre>", obj.traceback) if obj.traceback else "-"

    @admin.display(description="requeued from")
    def requeued_from_link(self, obj):
        if not obj.requeued_from:
            return "-"
        return format_html('<a href="{}">{}</a>', result_url(obj.requeued_from), obj.requeued_from)

    @admin.display(description="requeued as")
    def requeued_as(self, obj):
        again = JobResult.objects.filter(requeued_from=obj.job_id).values_list("job_id", flat=True)
        return format_html_join(", ", '<a href="{}">{}</a>', ((result_url(job_id), job_id) for job_id in again)) or "-"

    def render_change_form(self, request, context, *args, obj=None, **kwargs):
        context["can_requeue"] = (obj is not None and obj.status == JobResult.Status.FAILED
                                  and self.has_requeue_permission(request))
        if obj is not None:
            context["lookup_url"] = lookup_url(obj.job_id)
            context["requeue_url"] = reverse("admin:django_gearman_jobresult_requeue", args=[quote(obj.job_id)])
        return super().render_change_form(request, context, *args, obj=obj, **kwargs)

    # -- requeueing: requeue.requeue, what gearman_requeue runs -----------------------------

    @admin.action(description="Requeue selected failed jobs", permissions=["requeue"])
    def requeue_failed(self, request, queryset):
        failed = list(queryset.filter(status=JobResult.Status.FAILED).values_list("job_id", flat=True))
        skipped = queryset.count() - len(failed)
        if skipped:
            self.message_user(request, f"{skipped} selected jobs did not fail and were not sent again.",
                              messages.WARNING)
        if failed:
            self._requeue(request, failed)

    def requeue_view(self, request, object_id):
        if not self.has_requeue_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"no stored job {unquote(object_id)!r}")
        if obj.status != JobResult.Status.FAILED:
            self.message_user(request, f"Job {obj.job_id} is {obj.status}: only failed jobs are requeued.",
                              messages.ERROR)
            return HttpResponseRedirect(result_url(obj.job_id))
        sent = self._requeue(request, [obj.job_id])
        return HttpResponseRedirect(lookup_url(sent[0].job_id) if sent else result_url(obj.job_id))

    def _requeue(self, request, job_ids: list[str]) -> list[Requeued]:
        from .requeue import requeue

        try:
            sent = requeue(job_ids)
        except RequeueError as exc:  # checked before sending: its message says nothing was sent
            self.message_user(request, f"Not requeued: {exc}", messages.ERROR)
            return []
        except GearmanError as exc:  # while sending: the jobs before it went out ("requeued as")
            self.message_user(request, f"Requeueing stopped: {exc}", messages.ERROR)
            return []
        for job in sent:
            self.message_user(request, format_html(
                'Job {} sent again as <a href="{}">{}</a> (handle {}).', job.original, lookup_url(job.job_id),
                job.job_id, job.handle), messages.SUCCESS)
        return sent
