"""The shipped fixtures in a project of a user's own: `django-admin startproject`, an app with
a worker module, settings.py pointing at servers nobody runs, and the project's own tests run
with pytest in a subprocess, as its developers would run them. Also `manage.py check` on a
task such a project defines where no worker can serve it."""

import re

import pytest
from support.gearmand import reserved_port
from support.projects import FreshProject

WORKER_MODULE = """
    import os

    from django.contrib.auth.models import User

    from django_gearman import gearman_task


    @gearman_task
    def add(a, b):
        return a + b


    @gearman_task
    def whoami():
        return os.getpid()


    @gearman_task
    def add_later(a, b):
        # Queued by the worker's own client: to the server that client was given.
        return str(add.submit_background(a, b))


    @gearman_task
    def sign_up(name):
        return User.objects.create(username=name).pk


    @gearman_task
    def usernames():
        return sorted(User.objects.values_list("username", flat=True))
"""

PROJECT_TESTS = """
    import os
    import signal

    import pytest
    from django.contrib.auth.models import User

    from shop.gearman_workers.worker import add, add_later, sign_up, usernames, whoami


    def test_jobs_run_on_a_worker_of_the_gearmand_fixture(gearman_worker, gearmand):
        assert add.submit(2, 3) == 5
        assert whoami.submit() == gearman_worker.pid != os.getpid()
        assert add_later.submit(1, 2).endswith("@" + gearmand.address)


    @pytest.mark.django_db(transaction=True)
    def test_the_worker_uses_the_test_database(gearman_worker):
        User.objects.create(username="ann")
        sign_up.submit("bob")
        assert usernames.submit() == ["ann", "bob"]
        assert sorted(User.objects.values_list("username", flat=True)) == ["ann", "bob"]


    def test_one_worker_module(gearman_worker_factory, settings):
        settings.GEARMAN_TASK_PREFIX = "test."
        worker = gearman_worker_factory("-a", "shop", "-n", "worker")
        assert add.submit(20, 22) == 42
        assert worker.stop() == 0


    def test_fails_a_worker_that_does_not_start(gearman_worker_factory):
        gearman_worker_factory("-a", "nope")


    def test_fails_and_shows_the_worker_log(gearman_worker):
        assert add.submit(1, 1) == 3


    def test_errors_when_the_worker_dies_during_the_test(gearman_worker):
        os.kill(gearman_worker.pid, signal.SIGKILL)
        gearman_worker.process.wait()
"""

EXPECTED_OUTCOMES = {
    "test_jobs_run_on_a_worker_of_the_gearmand_fixture": {"PASSED"},
    "test_the_worker_uses_the_test_database": {"PASSED"},
    "test_one_worker_module": {"PASSED"},
    "test_fails_a_worker_that_does_not_start": {"FAILED"},
    "test_fails_and_shows_the_worker_log": {"FAILED"},
    "test_errors_when_the_worker_dies_during_the_test": {"PASSED", "ERROR"},
}


@pytest.fixture
def project(tmp_path):
    """The fresh project; its settings.py names two servers that refuse connections."""
    with reserved_port() as servers_port, reserved_port() as workers_port:
        project = FreshProject(tmp_path)
        project.add_settings(f"""
            INSTALLED_APPS += ["django_gearman", "shop"]
            GEARMAN_SERVERS = ["127.0.0.1:{servers_port}"]
            GEARMAN_WORKER_SERVERS = ["127.0.0.1:{workers_port}"]
            DATABASES["default"]["TEST"] = {{"NAME": BASE_DIR / "test_db.sqlite3"}}
        """)
        project.write("shop/gearman_workers/worker.py", WORKER_MODULE)
        yield project


def outcomes(output: str) -> dict[str, set[str]]:
    """{test name: outcomes} from pytest's -rA summary lines ("PASSED test_e2e.py::test_x")."""
    found: dict[str, set[str]] = {}
    for outcome, name in re.findall(r"^(PASSED|FAILED|ERROR) test_e2e\.py::(\w+)", output, re.M):
        found.setdefault(name, set()).add(outcome)
    return found


def test_a_project_tests_itself_end_to_end_with_the_shipped_fixtures(project):
    project.write("test_e2e.py", PROJECT_TESTS)
    run = project.pytest("-rA", "test_e2e.py")
    output = run.stdout + run.stderr
    print(output)
    assert outcomes(output) == EXPECTED_OUTCOMES, output
    failed_start = re.search(r"gearman_worker -a nope \(pid \d+\) exited with status 2 before it registered with "
                             r"gearmand at 127\.0\.0\.1:\d+:\nCommandError: no installed app 'nope'", output)
    assert failed_start, output
    assert re.search(r"-+ gearman_worker --all \(pid \d+\) log -+\n.*<GearmanWorker all> serving shop\.worker\.add",
                     output), output
    assert re.search(r"gearman_worker --all \(pid \d+\) exited with status -9 during the test", output), output


def test_the_worker_uses_a_test_database_that_a_fixture_put_on_postgresql(project):
    """README's recipe: the engine in the tests' settings, the address from the postgres_cluster fixture."""
    project.write("mysite/settings_postgres.py", """
        from .settings import *  # noqa: F403

        DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "shop"}}
    """)
    project.write("conftest.py", """
        import pytest
        from django.conf import settings

        @pytest.fixture(scope="session")
        def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, postgres_cluster):
            settings.DATABASES["default"].update(postgres_cluster.database_settings("shop"))
    """)
    project.write("test_postgres.py", """
        import pytest
        from django.contrib.auth.models import User
        from django.db import connection

        from shop.gearman_workers.worker import sign_up, usernames

        @pytest.mark.django_db(transaction=True)
        def test_sign_up(gearman_worker):
            assert connection.vendor == "postgresql"
            User.objects.create(username="ann")
            sign_up.submit("bob")
            assert usernames.submit() == ["ann", "bob"]
            assert User.objects.filter(username="bob").exists()
    """)
    run = project.pytest("test_postgres.py", settings="mysite.settings_postgres")
    assert run.returncode == 0, run.stdout + run.stderr


def test_an_in_memory_test_database_is_a_warning_naming_the_fix(project):
    project.write("mysite/settings_memory.py", """
        from .settings import *  # noqa: F403
        from .settings import DATABASES

        del DATABASES["default"]["TEST"]
    """)
    project.write("test_memory.py", """
        import pytest

        @pytest.mark.django_db
        def test_memory(gearman_worker):
            pass
    """)
    run = project.pytest("test_memory.py", settings="mysite.settings_memory")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert ("RuntimeWarning: a gearman_worker process cannot open this process's in-memory SQLite database "
            "'default': its jobs get an empty database of their own.") in output, output


def test_check_names_a_task_that_a_view_imports_from_outside_the_worker_modules(project):
    project.write("shop/tasks.py", """
        from django_gearman import gearman_task

        @gearman_task
        def resize(path):
            return path
    """)
    project.write("shop/views.py", "from .tasks import resize  # noqa: F401\n")
    with open(project.root / "mysite" / "urls.py", "a") as urls:
        urls.write("\nimport shop.views  # noqa: E402, F401\n")
    run = project.manage("check", check=False)
    assert run.returncode == 0, run.stderr
    tasks_py = project.root / "shop" / "tasks.py"
    assert (f"?: (django_gearman.W002) The Gearman task 'shop.tasks.resize' (shop.tasks.resize ({tasks_py}:4)) "
            "can never be served: shop.tasks is not in shop.gearman_workers, and workers serve only the modules "
            "of an installed app's gearman_workers package. Jobs submitted to it wait for a worker that never "
            "comes.\n\tHINT: Move it into shop.gearman_workers.tasks (a module of the gearman_workers package; "
            "create the package with an __init__.py); `manage.py gearman_worker -a shop` then serves it."
            ) in run.stderr, run.stderr
