"""System checks for the GEARMAN_* settings (ids django_gearman.E0xx / W0xx)."""

from django.core import checks

from . import conf


@checks.register("django_gearman")
def check_settings(app_configs=None, **kwargs):
    return [
        (checks.Error if problem.error else checks.Warning)(problem.message, hint=problem.hint, id=problem.id)
        for problem in conf.problems()
    ]
