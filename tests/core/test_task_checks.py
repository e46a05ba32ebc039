"""django_gearman.W002: a @gearman_task defined where no worker can serve it."""

import importlib
import textwrap

import pytest
from django.core.checks import run_checks
from django.urls import get_resolver

TASK = textwrap.dedent("""
    from django_gearman import gearman_task

    @gearman_task
    def resize(path):
        return path
""")


@pytest.fixture
def urlconf_imported():
    """The project's URLconf, and the modules its views import, imported before isolated_tasks
    remembers the tasks: the check imports them, and their tasks must not be forgotten after."""
    get_resolver().url_patterns  # noqa: B018


@pytest.fixture
def placement_warnings(urlconf_imported, isolated_tasks, settings):
    # tests/core/test_client.py imports gearman_probe's tasks without installing the app.
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "gearman_probe"]

    def warnings():
        return [message for message in run_checks() if message.id == "django_gearman.W002"]

    return warnings


def test_the_project_as_it_is_has_no_misplaced_task(placement_warnings):
    assert placement_warnings() == []


@pytest.mark.parametrize(("module", "files", "reason", "hint"), [
    ("photos.tasks", {"tasks.py": TASK}, "photos.tasks is not in photos.gearman_workers",
     "Move it into photos.gearman_workers.tasks (a module of the gearman_workers package; create the package "
     "with an __init__.py); `manage.py gearman_worker -a photos` then serves it."),
    ("photos.gearman_workers", {"gearman_workers/__init__.py": TASK},
     "it is in photos.gearman_workers itself, which is not a worker module",
     "Move it into a module of that package, such as photos.gearman_workers.tasks."),
    ("photos.gearman_workers.images.resize",
     {"gearman_workers/__init__.py": "", "gearman_workers/images/__init__.py": "",
      "gearman_workers/images/resize.py": TASK},
     "photos.gearman_workers.images.resize is in a subpackage of photos.gearman_workers, "
     "where discovery does not look",
     "Move it into a module directly in photos.gearman_workers, such as photos.gearman_workers.resize."),
])
def test_a_task_outside_a_worker_module_is_a_warning_saying_why_and_what_to_do(
        make_app, placement_warnings, module, files, reason, hint):
    make_app("photos", files)
    task = importlib.import_module(module).resize
    [warning] = placement_warnings()
    assert warning.msg == (
        f"The Gearman task {task.name!r} ({task.location}) can never be served: {reason}, and workers serve only "
        "the modules of an installed app's gearman_workers package. Jobs submitted to it wait for a worker that "
        "never comes."
    )
    assert warning.hint == hint
    assert warning.level == 30


def test_a_task_of_a_module_outside_the_installed_apps(make_app, placement_warnings):
    make_app("scripts", {"jobs.py": TASK}, installed=False)
    importlib.import_module("scripts.jobs")
    [warning] = placement_warnings()
    assert "can never be served: scripts.jobs is not part of an installed app, and" in warning.msg
    assert warning.hint == "Move it into a module of an installed app's gearman_workers package, or install its app."


def test_a_task_in_a_worker_module_is_fine(make_app, placement_warnings):
    make_app("photos", {"gearman_workers/__init__.py": "", "gearman_workers/images.py": TASK})
    importlib.import_module("photos.gearman_workers.images")
    assert placement_warnings() == []


def test_tasks_that_views_import_are_checked_without_importing_them_first(make_app, placement_warnings, settings):
    make_app("photos", {
        "tasks.py": TASK,
        "views.py": "from .tasks import resize\n",
        "urls.py": "from . import views\nurlpatterns = []\n",
    })
    settings.ROOT_URLCONF = "photos.urls"
    [warning] = placement_warnings()
    assert "'photos.tasks.resize'" in warning.msg
