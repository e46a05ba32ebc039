"""System checks: the GEARMAN_* settings (ids django_gearman.E0xx / W001) and tasks that no
worker can serve (W002)."""

from django.conf import settings
from django.core import checks

from . import conf, discovery


@checks.register("django_gearman")
def check_settings(app_configs=None, **kwargs):
    return _messages(conf.problems())


@checks.register("django_gearman")
def check_task_placement(app_configs=None, **kwargs):
    if getattr(settings, "ROOT_URLCONF", None):
        # Views often import the tasks they submit. Django's URL check imports the URLconf
        # too (and reports it if it is broken), but checks run in no fixed order.
        from django.urls import get_resolver

        get_resolver().url_patterns  # noqa: B018  (imports the URLconf and its views)
    return _messages(discovery.misplaced_tasks())


def _messages(problems: list[conf.Problem]) -> list[checks.CheckMessage]:
    return [
        (checks.Error if problem.error else checks.Warning)(problem.message, hint=problem.hint, id=problem.id)
        for problem in problems
    ]
