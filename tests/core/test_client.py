"""GearmanClient.submit_job and Task.submit* against real gearmand and real workers."""

import inspect
import json
import pickle

import pytest
from django.db import transaction
from gearman_probe.gearman_workers.probe import raise_probe_error, record
from gearman_probe.gearman_workers.probe import send_data as probe_send_data
from shop.gearman_workers.worker import add, echo, fail, reverse, wait_for_file
from support.apps import PROBE_ENV
from support.gearmand import registered_functions, reserved_port, total_jobs
from support.processes import ForkedChild
from support.waiting import wait_for

import django_gearman
from django_gearman import (
    GearmanClient,
    GearmanJobFailed,
    GearmanServerUnavailable,
    GearmanTimeout,
    JobHandle,
    PayloadError,
    SubmittedJob,
)
from django_gearman.client import RESERVED_KEYWORDS


def start_probe_worker(start_worker, server):
    return start_worker("-a", "gearman_probe", "-n", "probe", servers=[server], env=PROBE_ENV)


def test_submit_job_has_exactly_the_specs_signature():
    assert str(inspect.signature(GearmanClient.submit_job)) == (
        "(self, task: 'str | TaskLike', data: 'bytes | str | None' = None, *, args: 'Iterable | None' = None, "
        "kwargs: 'Mapping | None' = None, unique: 'str | bytes | None' = None, priority: 'str | None' = None, "
        "background: 'bool' = False, wait_until_complete: 'bool' = True, max_retries: 'int' = 0, "
        "poll_timeout: 'float | None' = None, run_at: 'datetime.datetime | None' = None, "
        "countdown: 'float | datetime.timedelta | None' = None, **task_kwargs) -> 'Any'"
    )


def test_every_public_name_is_importable_from_the_package():
    for name in ("GearmanClient", "GearmanError", "GearmanJobFailed", "GearmanServerUnavailable", "GearmanTimeout",
                 "PayloadError", "ProtocolError", "JobHandle", "JobStatus", "Task", "gearman_task"):
        assert name in django_gearman.__all__
        assert getattr(django_gearman, name).__name__ == name
    for error in ("GearmanJobFailed", "GearmanServerUnavailable", "GearmanTimeout", "PayloadError", "ProtocolError"):
        assert issubclass(getattr(django_gearman, error), django_gearman.GearmanError)


# -- arguments and the reserved keywords -------------------------------------------


def test_positional_keyword_and_loose_keyword_arguments(shop_worker):
    client = GearmanClient()
    assert client.submit_job("shop.worker.add", args=[2, 3]) == 5
    assert client.submit_job("shop.worker.add", a=2, b=3) == 5
    assert client.submit_job(add, args=(2,), kwargs={"b": 3}) == 5
    assert add.submit(2, b=3) == 5


def test_reserved_names_go_to_gearman_and_kwargs_go_to_the_task(shop_worker):
    """seeds/002: a task whose parameters are named like submit_job's keywords."""
    client = GearmanClient()
    assert client.submit_job(echo, kwargs={"background": True, "unique": False}) == {
        "args": (), "kwargs": {"background": True, "unique": False}}
    assert client.submit_job(echo, args=[True, False]) == {"args": (True, False), "kwargs": {}}
    every_reserved_name = {"data": 1, "args": 2, "kwargs": 3, "unique": 4, "priority": 5, "background": 6,
                           "wait_until_complete": 7, "max_retries": 8, "poll_timeout": 9, "run_at": 10, "countdown": 11}
    assert set(every_reserved_name) == RESERVED_KEYWORDS
    assert client.submit_job(echo, kwargs=every_reserved_name, priority="high", unique="reserved-1",
                             poll_timeout=30, max_retries=1) == {"args": (), "kwargs": every_reserved_name}


def test_explicit_kwargs_win_over_loose_keywords(shop_worker):
    assert GearmanClient().submit_job(echo, x=1, y=2, kwargs={"y": 3}) == {"args": (), "kwargs": {"x": 1, "y": 3}}


def test_seed_002_background_call_gives_gearman_true_and_the_task_false(gearman_settings, start_worker, tmp_path):
    start_probe_worker(start_worker, gearman_settings)
    path = tmp_path / "received.json"
    handle = GearmanClient().submit_job(
        record, background=True, unique=True, kwargs={"path": str(path), "background": False, "unique": False}
    )
    assert isinstance(handle, JobHandle)  # Gearman got background=True
    wait_for(path.exists, message="the background job to run")
    assert json.loads(path.read_text()) == {"args": [], "kwargs": {"background": False, "unique": False}}


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda client: client.submit_job(add, b"data", args=[1]), TypeError, "cannot be combined with args"),
    (lambda client: client.submit_job(add, {"a": 1}), TypeError, "data= must be bytes or str, not dict"),
    (lambda client: client.submit_job(add, args="12"), TypeError, "args= must be a list or tuple"),
    (lambda client: client.submit_job(add, kwargs=[("a", 1)]), TypeError, "kwargs= must be a dict, not list"),
    (lambda client: client.submit_job(add, args=[1, 2], priority="urgent"), ValueError, "invalid priority 'urgent'"),
    (lambda client: client.submit_job(add, args=[1, 2], max_retries=-1), ValueError, "max_retries must be"),
    (lambda client: client.submit_job(None), TypeError, "task must be a task name or a Task"),
    (lambda client: reverse.submit(b"a", b"b"), TypeError, "raw task shop.worker.reverse takes exactly one"),
])
def test_bad_calls_fail_before_anything_is_sent(settings, refused_address, call, error, message):
    settings.GEARMAN_SERVERS = [refused_address]  # the error must come before any attempt to connect
    with pytest.raises(error, match=message):
        call(GearmanClient())


# -- results ---------------------------------------------------------------------


def test_raw_data_is_sent_verbatim_and_the_raw_reply_returned(shop_worker):
    client = GearmanClient()
    assert client.submit_job("shop.worker.reverse", data=b"\x00\xffbytes") == b"setyb\xff\x00"
    assert client.submit_job("shop.worker.reverse", data="text") == b"txet"  # str is sent as UTF-8
    assert reverse.submit(b"abc") == b"cba"


def test_background_returns_a_job_handle_from_the_server_that_took_it(shop_worker):
    handle = add.submit_background(2, 3)
    assert isinstance(handle, SubmittedJob)  # a JobHandle that also reads its stored result
    assert handle.server == shop_worker.servers[0]
    parsed = JobHandle.from_string(str(handle))
    assert (parsed, hash(parsed)) == (handle, hash(handle))
    assert {parsed: "kept"}[handle] == "kept"
    assert pickle.loads(pickle.dumps(handle)) == handle and pickle.loads(pickle.dumps(handle)).job_id == handle.job_id
    assert handle != JobHandle(handle.handle, "127.0.0.1:1")


def test_every_job_gets_an_id_and_unique_true_keeps_deriving_it_from_the_arguments(gearman_settings):
    client = GearmanClient()
    first, second = (client.submit_job("nobody-serves-this", args=[1], background=True) for _ in range(2))
    assert len(first.job_id) == len(second.job_id) == 32 and first.job_id != second.job_id
    assert client.submit_job("nobody-serves-this", args=[1], unique="order-9", background=True).job_id == "order-9"
    coalesced = [client.submit_job("nobody-serves-this", args=[2], unique=True, background=True) for _ in range(2)]
    assert coalesced[0].job_id == coalesced[1].job_id and len(coalesced[0].job_id) == 40  # BLAKE2b-160 hex
    assert total_jobs(gearman_settings, "nobody-serves-this") == 4


def test_gearman_submit_timeout_bounds_the_wait_on_a_silent_server(settings, silent_server):
    settings.GEARMAN_SERVERS = [silent_server]
    settings.GEARMAN_SUBMIT_TIMEOUT = 0.3
    with pytest.raises(GearmanServerUnavailable, match=f"gearmand at {silent_server} did not answer within 0.3 s: "
                                                       "it may have been queued there"):
        add.submit_background(1, 2)


def test_not_waiting_for_a_foreground_job_returns_its_handle(shop_worker):
    handle = GearmanClient().submit_job(add, args=[2, 3], wait_until_complete=False)
    assert isinstance(handle, JobHandle) and handle.server == shop_worker.servers[0]


def test_a_task_that_raises_raises_gearman_job_failed_with_the_remote_details(shop_worker):
    with pytest.raises(GearmanJobFailed) as failed:
        fail.submit("out of stock")
    error = failed.value
    assert str(error) == "job 'shop.worker.fail' failed: ValueError: out of stock"
    assert (error.task, error.exception_type, error.message) == ("shop.worker.fail", "ValueError", "out of stock")
    assert error.traceback.startswith("Traceback (most recent call last):")
    assert "shop/gearman_workers/worker.py" in error.traceback and "raise ValueError(message)" in error.traceback
    assert error.handle.endswith("@" + shop_worker.servers[0])
    assert add.submit(1, 1) == 2  # the worker went on


def test_an_exception_that_cannot_be_printed_fails_its_job_not_the_worker(gearman_settings, start_worker):
    start_probe_worker(start_worker, gearman_settings)
    for _ in range(2):  # the second call proves the worker survived the first
        with pytest.raises(GearmanJobFailed) as failed:
            GearmanClient().submit_job("gearman_probe.probe.raise_unprintable")
        assert failed.value.exception_type == "gearman_probe.gearman_workers.probe.Unprintable"
        assert failed.value.message == "<Unprintable: str() failed>"


def test_a_caller_cannot_pass_the_job_parameter_a_task_receives(shop_worker):
    with pytest.raises(GearmanJobFailed, match="receives the running job as `job`; a caller cannot pass `job`"):
        GearmanClient().submit_job("shop.worker.count_to", args=[1], job="mine")
    assert add.submit(1, 1) == 2


def test_a_projects_own_exception_class_arrives_by_its_dotted_name(gearman_settings, start_worker):
    start_probe_worker(start_worker, gearman_settings)
    with pytest.raises(GearmanJobFailed) as failed:
        raise_probe_error.submit("disk full")
    assert failed.value.exception_type == "gearman_probe.gearman_workers.probe.ProbeError"
    assert failed.value.message == "disk full"


# -- one client shared by threads, and across fork() ------------------------------------


def test_one_client_shared_by_eight_threads_gives_each_its_own_results(shop_worker, in_background):
    client = GearmanClient()

    def add_to(base):
        return [client.submit_job(add, args=[base, n], poll_timeout=10) for n in range(25)]

    calls = [in_background(add_to, thread * 1000) for thread in range(8)]
    assert [call.result(timeout=60) for call in calls] == [[t * 1000 + n for n in range(25)] for t in range(8)]


def test_a_client_used_before_fork_works_in_parent_and_child(shop_worker):
    client = GearmanClient()
    assert client.submit_job(add, args=[1, 1]) == 2  # connected before the fork

    def in_the_child():
        return json.dumps([client.submit_job(add, args=[2000, n], poll_timeout=10) for n in range(20)]).encode()

    with ForkedChild(in_the_child) as child:
        in_the_parent = [client.submit_job(add, args=[1000, n], poll_timeout=10) for n in range(20)]
        assert json.loads(child.report()) == [2000 + n for n in range(20)]
    assert in_the_parent == [1000 + n for n in range(20)]
    assert client.submit_job(add, args=[2, 2]) == 4  # the child's exit left the parent's connection alone


# -- jobs that do not complete never return None -------------------------------------


def test_a_timeout_raises_and_the_late_reply_is_not_taken_for_the_next(gearman_settings, start_worker, tmp_path):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings])
    release = tmp_path / "release"
    client = GearmanClient()
    with pytest.raises(GearmanTimeout, match=r"job 'shop.worker.wait_for_file' did not finish within 0.3 s"):
        client.submit_job(wait_for_file, args=[str(release)], poll_timeout=0.3)
    release.write_text("late")
    assert client.submit_job(wait_for_file, args=[str(release)]) == "late"
    assert client.submit_job(add, args=[2, 2]) == 4


def test_gearman_default_timeout_applies_to_foreground_jobs(gearman_settings, start_worker, settings, tmp_path):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings])
    settings.GEARMAN_DEFAULT_TIMEOUT = 0.3
    with pytest.raises(GearmanTimeout):
        wait_for_file.submit(str(tmp_path / "never"))
    (tmp_path / "never").write_text("")


@pytest.mark.parametrize("max_retries", [0, 2])
def test_no_reachable_server_raises_server_unavailable(settings, max_retries):
    with reserved_port() as first, reserved_port() as second:
        settings.GEARMAN_SERVERS = [f"127.0.0.1:{first}", f"127.0.0.1:{second}"]
        with pytest.raises(GearmanServerUnavailable, match="cannot connect to gearmand at 127.0.0.1"):
            GearmanClient().submit_job(add, args=[1, 2], max_retries=max_retries)
        with pytest.raises(GearmanServerUnavailable):
            add.submit_background(1, 2)


def test_gearmand_dying_during_a_job_raises_server_unavailable(gearman_settings, start_worker, in_background,
                                                                tmp_path):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings])
    waiting = in_background(wait_for_file.submit, str(tmp_path / "never"))
    wait_for(lambda: total_jobs(gearman_settings, "shop.worker.wait_for_file"), message="the job to start")
    gearman_settings.kill()
    with pytest.raises(GearmanServerUnavailable):
        waiting.result(timeout=30)
    (tmp_path / "never").write_text("")


def test_a_foreign_worker_that_fails_without_a_reason_still_raises(gearman_settings, gearman_cli_worker):
    gearman_cli_worker("foreign-fail", "false")
    with pytest.raises(GearmanJobFailed) as failed:
        GearmanClient().submit_job("foreign-fail", data=b"x")
    assert (failed.value.exception_type, failed.value.message) == (None, "")
    assert str(failed.value) == "job 'foreign-fail' failed"


def test_a_django_client_calls_a_foreign_worker_with_raw_data(gearman_settings, gearman_cli_worker):
    gearman_cli_worker("foreign-upper", "tr", "a-z", "A-Z")
    assert GearmanClient().submit_job("foreign-upper", data=b"abc") == b"ABC"


def test_a_reply_that_is_not_json_is_a_payload_error_not_a_value(gearman_settings, gearman_cli_worker):
    gearman_cli_worker("foreign-text", "echo", "not json")
    with pytest.raises(PayloadError, match="payload is not valid JSON"):
        GearmanClient().submit_job("foreign-text", args=["abc"])


def test_a_task_returning_none_is_the_only_none(gearman_settings, start_worker):
    start_probe_worker(start_worker, gearman_settings)
    assert GearmanClient().submit_job("gearman_probe.probe.nothing") is None


# -- unique ------------------------------------------------------------------------


def test_unique_jobs_in_flight_are_coalesced_by_gearmand(gearman_settings):
    """No worker serves "nobody-serves-this", so gearmand keeps every distinct job queued."""
    client = GearmanClient()
    for _ in range(3):
        client.submit_job("nobody-serves-this", args=[1], unique=True, background=True)
    assert total_jobs(gearman_settings, "nobody-serves-this") == 1
    client.submit_job("nobody-serves-this", args=[2], unique=True, background=True)
    client.submit_job("nobody-serves-this", args=[1], unique="my-id", background=True)
    client.submit_job("nobody-serves-this", args=[3], unique="my-id", background=True)
    assert total_jobs(gearman_settings, "nobody-serves-this") == 3


# -- GEARMAN_TASK_PREFIX --------------------------------------------------------------


def test_the_prefix_namespaces_function_names_on_the_wire(gearman_settings, start_worker, settings):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env={"GEARMAN_TASK_PREFIX": "staging."})
    functions = registered_functions(gearman_settings)
    assert "staging.shop.worker.add" in functions and "shop.worker.add" not in functions
    settings.GEARMAN_TASK_PREFIX = "staging."
    assert add.name == "shop.worker.add"
    assert add.submit(2, 3) == 5
    assert GearmanClient().submit_job("shop.worker.add", args=[2, 3]) == 5


# -- submit_on_commit ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_submit_on_commit_submits_after_the_commit_and_never_after_a_rollback(gearman_settings, start_worker,
                                                                             tmp_path):
    committed, rolled_back = tmp_path / "committed.json", tmp_path / "rolled-back.json"
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            record.submit_on_commit(str(rolled_back), "rolled back")
            raise RuntimeError("rollback")
    with transaction.atomic():
        record.submit_on_commit(str(committed), "committed", order=1)
        assert total_jobs(gearman_settings, record.name) == 0  # not before the commit
    assert total_jobs(gearman_settings, record.name) == 1  # only the committed one

    start_probe_worker(start_worker, gearman_settings)
    wait_for(committed.exists, message="the committed job to run")
    assert json.loads(committed.read_text()) == {"args": ["committed"], "kwargs": {"order": 1}}
    assert not rolled_back.exists()


# -- GEARMAN_ALWAYS_EAGER ------------------------------------------------------------


@pytest.fixture
def eager(settings, refused_address):
    """Tasks run in this process; the servers refuse connections, so nothing can reach gearmand."""
    settings.GEARMAN_ALWAYS_EAGER = True
    settings.GEARMAN_SERVERS = [refused_address]
    return settings


def test_eager_runs_the_task_here_through_the_same_serialization(eager):
    assert add.submit(2, 3) == 5
    assert GearmanClient().submit_job("shop.worker.echo", args=[(1, 2)], when=None) == {
        "args": ((1, 2),), "kwargs": {"when": None}}
    with pytest.raises(TypeError, match="cannot send a builtins.set"):
        echo.submit({1})
    assert reverse.submit(b"abc") == b"cba"


def test_eager_failures_look_like_a_workers(eager):
    with pytest.raises(GearmanJobFailed) as failed:
        fail.submit("eager boom")
    assert (failed.value.exception_type, failed.value.message) == ("ValueError", "eager boom")
    assert "raise ValueError(message)" in failed.value.traceback
    assert isinstance(failed.value.__cause__, ValueError)  # the task's own exception, for a local traceback
    with pytest.raises(GearmanJobFailed, match="no task named 'nope' is defined in this process"):
        GearmanClient().submit_job("nope")


def test_eager_jobs_take_the_same_progress_values_as_real_ones(eager):
    assert probe_send_data.submit("text") is None
    with pytest.raises(GearmanJobFailed, match="job data must be bytes or str, not dict"):
        probe_send_data.submit({"not": "bytes"})
    with pytest.raises(GearmanJobFailed, match="a caller cannot pass `job`"):
        GearmanClient().submit_job("shop.worker.count_to", args=[1], job="mine")


def test_eager_background_jobs_run_at_once_and_return_a_handle(eager, tmp_path):
    path = tmp_path / "eager.json"
    handle = record.submit_background(str(path), 1)
    assert isinstance(handle, JobHandle) and handle.server == "eager"
    assert len(handle.job_id) == 32  # an id, as a real job has
    assert json.loads(path.read_text()) == {"args": [1], "kwargs": {}}
    assert GearmanClient().get_job_status(handle).known is False


def test_the_client_picks_where_jobs_run_each_time_the_settings_change(settings):
    client = GearmanClient()
    assert not client.transport.in_process
    settings.GEARMAN_ALWAYS_EAGER = True
    assert client.transport.in_process
    settings.GEARMAN_ALWAYS_EAGER = False
    assert not client.transport.in_process


def test_eager_honours_prefix_and_signing(eager):
    eager.GEARMAN_TASK_PREFIX = "staging."
    eager.GEARMAN_SIGNING_KEY = "secret"
    assert GearmanClient().submit_job("shop.worker.add", args=[2, 3]) == 5
