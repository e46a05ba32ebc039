"""The db_backend fixture: one database, of either kind, for this process and for `manage.py` processes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connections, router, transaction
from support.commands import run_manage_py
from support.databases import POSTGRESQL

from django_gearman.models import StoredJob


def manage_py_shell(code: str, db_backend) -> str:
    """Run `code` in a `manage.py shell` process on the test's database; what it printed."""
    result = run_manage_py("shell", "-v", "0", "-c", code, servers=["127.0.0.1:4730"], env=db_backend.env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


GROUP_NAMES = "from django.contrib.auth.models import Group; print(*Group.objects.values_list('name', flat=True))"


def test_a_row_committed_here_is_read_by_a_manage_py_process(db_backend):
    with transaction.atomic(using=db_backend.alias):
        Group.objects.create(name="written-by-the-test")
    assert manage_py_shell(GROUP_NAMES, db_backend) == "written-by-the-test"


def test_a_row_written_by_a_manage_py_process_is_read_here(db_backend):
    manage_py_shell("from django.contrib.auth.models import Group; Group.objects.create(name='from-manage-py')",
                    db_backend)
    assert list(Group.objects.values_list("name", flat=True)) == ["from-manage-py"]


def test_both_processes_use_the_database_of_the_chosen_kind(db_backend):
    vendor = {"sqlite": "sqlite", "postgresql": "postgresql"}[db_backend.kind]
    assert router.db_for_write(Group) == db_backend.alias
    assert connections[db_backend.alias].vendor == vendor
    code = "from django.db import connection; print(connection.vendor, connection.settings_dict['NAME'])"
    assert manage_py_shell(code, db_backend) == f"{vendor} {connections[db_backend.alias].settings_dict['NAME']}"


def test_the_apps_own_tables_are_routed_and_shared_too(db_backend):
    StoredJob.objects.create(job_id="job-1", function="shop.worker.add", payload=b"\x00raw")
    assert router.db_for_write(StoredJob) == db_backend.alias
    code = "from django_gearman.models import StoredJob; job = StoredJob.objects.get(); print(job, bytes(job.payload))"
    assert manage_py_shell(code, db_backend) == r"shop.worker.add (job-1) b'\x00raw'"


def test_tables_are_emptied_between_tests(db_backend):
    """The tests above left rows in both tables, on both kinds: none is left."""
    assert not Group.objects.exists()
    assert not StoredJob.objects.exists()


@pytest.mark.parametrize("db_backend", [POSTGRESQL], indirect=True)
def test_on_postgresql_a_query_that_ignores_routing_fails_the_test(db_backend):
    with pytest.raises(AssertionError, match="to 'default' are not allowed in this test"):
        with transaction.atomic():  # no using=: the default database, which the subprocesses do not see
            pass
