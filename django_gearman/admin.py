"""Gearman in the Django admin: the Servers page and the job lookup.

Thin, as the management commands are: every page shows what a library
function returns (`inspection.inspect_servers`, as `gearman_server_info`
does; `inspection.inspect_job`), and its script polls a JSON view of the same
data. Pages that no table backs belong to table-less models (`Server`,
`JobLookup`), so the admin index lists them under Gearman and Django's view
permissions guard them, as for any model.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from .inspection import DEFAULT_TIMEOUT, configured_servers, inspect_job, inspect_servers, json_document
from .models import JobLookup, Server

#: Seconds between two refreshes of a live page.
REFRESH_SECONDS = 2


class PageAdmin(admin.ModelAdmin):
    """A page in the admin with the URL of a model's change list, and a JSON view of its data."""

    template: str

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("", self.admin_site.admin_view(self.page_view), name=f"{name}_changelist"),
            path("status.json", self.admin_site.admin_view(self.json_view), name=f"{name}_status"),
        ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

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
