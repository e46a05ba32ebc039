"""@gearman_task and the discovery of every installed app's gearman_workers package."""

import inspect

import pytest
from django.core.exceptions import ImproperlyConfigured
from shop.gearman_workers import mail, worker

from django_gearman import Task, gearman_task
from django_gearman.discovery import app_spec, discover, find_worker_module, project_spec
from django_gearman.exceptions import UnknownWorker
from django_gearman.spec import WorkerSpec


def test_bare_and_called_decorators_make_the_same_kind_of_task():
    assert isinstance(worker.add, Task) and isinstance(worker.echo, Task)
    assert (worker.add.name, worker.add.queue, worker.add.raw) == ("shop.worker.add", None, False)
    assert (worker.echo.name, worker.echo.queue) == ("shop.worker.echo", None)


def test_name_queue_and_raw_are_kept():
    assert (mail.send_email.name, mail.send_email.queue) == ("send-email", "mail")
    assert worker.reverse.raw


def test_default_name_is_the_import_path_without_gearman_workers():
    assert mail.daily_report.__module__ == "shop.gearman_workers.mail"
    assert mail.daily_report.name == "shop.mail.daily_report"


def test_the_task_stays_a_plain_callable():
    assert worker.add(2, 3) == 5
    assert worker.echo(1, x=2) == {"args": (1,), "kwargs": {"x": 2}}
    assert worker.add.__name__ == "add"
    assert worker.echo.__doc__.startswith("Returns what it got")
    assert inspect.signature(worker.add) == inspect.signature(worker.add.func)
    for method in ("submit", "submit_background", "submit_on_commit"):
        assert callable(getattr(worker.add, method))


def test_the_prefix_is_applied_on_the_wire_only(settings):
    settings.GEARMAN_TASK_PREFIX = "staging."
    assert worker.add.name == "shop.worker.add"
    assert worker.add.function_name == "staging.shop.worker.add"


def test_a_keyword_only_job_parameter_asks_for_the_job():
    assert worker.count_to.takes_job
    assert not worker.add.takes_job


@pytest.mark.parametrize("name", ["two words", "", "nul\0byte", 42])
def test_invalid_names_are_refused_naming_the_function(name):
    with pytest.raises(ImproperlyConfigured, match=r"invalid Gearman task name .* for .*test_tasks_registry"):
        @gearman_task(name=name)
        def task():
            pass


def test_a_positional_argument_to_the_decorator_is_refused_clearly():
    with pytest.raises(TypeError, match=r"keyword arguments only .* got 'send-email'"):
        gearman_task("send-email")


def test_discovery_finds_one_worker_per_module_with_its_own_tasks():
    workers = {(found.app_label, found.name): found for found in discover()}
    assert {("shop", "mail"), ("shop", "worker")} <= set(workers)
    assert {task.name for task in workers["shop", "mail"].tasks} == {"send-email", "shop.mail.daily_report"}
    assert worker.add in workers["shop", "worker"].tasks
    assert mail.send_email not in workers["shop", "worker"].tasks


def test_a_queue_selects_its_tasks():
    mail_module = find_worker_module("shop", "mail")
    assert mail_module.spec("mail") == WorkerSpec("shop.mail", (mail.send_email,), "mail")
    assert mail_module.spec() == WorkerSpec("shop.mail", mail_module.tasks)
    with pytest.raises(UnknownWorker, match=r"shop\.mail has no tasks in queue 'nope'; its queues: mail, reports"):
        mail_module.spec("nope")


@pytest.mark.parametrize(("app", "name", "message"), [
    ("nope", "worker", "no installed app 'nope'; apps with worker modules: shop"),
    ("auth", "worker", "app 'auth' has no gearman_workers package; apps with worker modules: shop"),
    ("shop", "nope", "app 'shop' has no worker module 'nope'; its worker modules: {shop_workers}"),
])
def test_unknown_apps_and_workers_list_what_exists(app, name, message):
    shop_workers = ", ".join(sorted(found.name for found in discover() if found.app_label == "shop"))
    with pytest.raises(UnknownWorker) as unknown:
        find_worker_module(app, name)
    assert str(unknown.value) == message.format(shop_workers=shop_workers)


def test_two_tasks_with_one_name_fail_naming_both_places(settings, isolated_tasks):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "gearman_dupes"]
    with pytest.raises(ImproperlyConfigured) as failure:
        discover()
    message = str(failure.value)
    assert "two Gearman tasks are named 'same-name'" in message
    assert "gearman_dupes.gearman_workers.first.one (" in message and "first.py:4)" in message
    assert "gearman_dupes.gearman_workers.second.two (" in message and "second.py:4)" in message


def test_an_exception_inside_a_worker_module_propagates(settings, isolated_tasks):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "gearman_broken"]
    with pytest.raises(KeyError, match="GEARMAN_BROKEN_API_TOKEN"):
        discover()


def test_gearman_workers_must_be_a_package(settings, isolated_tasks):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "gearman_flat"]
    with pytest.raises(ImproperlyConfigured, match=r"gearman_flat/gearman_workers\.py must be a package"):
        discover()


def test_a_worker_module_may_import_tasks_from_another_without_serving_them(settings, isolated_tasks):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "gearman_probe"]
    probe = find_worker_module("gearman_probe", "probe")
    assert {task.name for task in probe.tasks} == {
        "gearman_probe.probe.record", "gearman_probe.probe.raise_probe_error",
        "gearman_probe.probe.nothing", "gearman_probe.probe.log_level", "gearman_probe.probe.send_data",
        "gearman_probe.probe.raise_unprintable", "gearman_probe.probe.append_job_id",
        "gearman_probe.probe.note_start",
    }


def test_an_app_spec_serves_every_worker_module_of_the_app():
    shop_modules = [found for found in discover() if found.app_label == "shop"]
    spec = app_spec("shop")
    assert spec.label == "shop" and spec.queue is None
    assert spec.tasks == tuple(task for found in shop_modules for task in found.tasks)
    assert app_spec("shop", "mail") == WorkerSpec("shop", (mail.send_email,), "mail")


def test_the_project_spec_serves_every_worker_module_of_every_app(settings, isolated_tasks):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "gearman_probe"]
    spec = project_spec()
    assert spec.label == "all"
    assert spec.tasks == tuple(task for found in discover() for task in found.tasks)
    assert {task.name.split(".")[0] for task in spec.tasks} == {"gearman_probe", "shop", "send-email"}
    assert project_spec("reports") == WorkerSpec("all", (mail.daily_report,), "reports")


@pytest.mark.parametrize(("files", "message"), [
    ({"gearman_workers/__init__.py": ""}, "app 'idle_app' has no modules in its gearman_workers package"),
    ({"gearman_workers/__init__.py": "", "gearman_workers/later.py": '"""Tasks to come."""'},
     "app 'idle_app' has no tasks"),
])
def test_an_app_with_nothing_to_serve_says_why(make_app, isolated_tasks, files, message):
    make_app("idle_app", files)
    with pytest.raises(UnknownWorker) as unknown:
        app_spec("idle_app")
    assert str(unknown.value).split(";")[0] == message


def test_a_project_without_tasks_says_so(settings):
    settings.INSTALLED_APPS = ["django_gearman", "django.contrib.contenttypes"]
    with pytest.raises(UnknownWorker, match="^no installed app has a gearman_workers package with tasks$"):
        project_spec()
