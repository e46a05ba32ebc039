"""Interoperability with independent peers: the `gearman` CLI and pygearman.

pygearman is always given bytes task names and a finite poll_timeout: with
str names its worker dies on the first job, and with poll_timeout=None its
client returns before the job is done (see PROTOCOL-NOTES.md).
"""

from __future__ import annotations

import shutil
import subprocess
import threading

import gearman as pygearman
import pytest
from support.gearmand import wait_status
from support.protocol import wait_registered
from support.waiting import wait_for

from django_gearman.protocol import GearmanJobFailed, JobRequest

BINARY = bytes(range(256))
TEXT = "žluťoučký kůň 🐎"


@pytest.fixture
def cli(gearmand):
    """Run the `gearman` command-line tool against the test server."""
    executable = shutil.which("gearman")
    if executable is None:
        pytest.fail("the gearman CLI is not installed: apt-get install -y gearman-tools", pytrace=False)
    return [executable, "-h", "127.0.0.1", "-p", str(gearmand.port)]


@pytest.fixture
def cli_worker(cli, gearmand):
    """`cli_worker(function, *command)`: a `gearman -w` process running `command` per job."""
    processes: list[subprocess.Popen] = []

    def start(function: str, *command: str) -> subprocess.Popen:
        process = subprocess.Popen([*cli, "-w", "-f", function, "--", *command], stdin=subprocess.DEVNULL)
        processes.append(process)
        wait_registered(gearmand, function)
        return process

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_cli(cli, *arguments: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*cli, *arguments], input=stdin, capture_output=True, timeout=15)


def reverse(job):
    return job.data[::-1]


# -- the gearman CLI ----------------------------------------------------------------


@pytest.mark.parametrize("payload", [BINARY, TEXT.encode(), b""], ids=["binary", "utf8", "empty"])
def test_our_client_to_cli_worker(client, cli_worker, payload):
    cli_worker("cat", "cat")
    assert client.submit_job("cat", payload, poll_timeout=10) == payload


def test_our_batch_to_cli_worker(client, cli_worker):
    cli_worker("cat", "cat")
    requests = [JobRequest("cat", b"job %d \0 %s" % (n, TEXT.encode())) for n in range(20)]
    client.submit_multiple_jobs(requests, poll_timeout=30)
    assert [request.outcome() for request in requests] == [request.data for request in requests]


def test_our_background_job_to_cli_worker(client, cli_worker, gearmand):
    cli_worker("cat", "cat")
    client.submit_job("cat", b"in the background", background=True, poll_timeout=10)
    wait_status(gearmand, "cat", total=0)  # the CLI worker took the job


def test_cli_client_to_our_worker(cli, gearmand, run_worker):
    run_worker([gearmand], {"reverse": reverse})
    completed = run_cli(cli, "-f", "reverse", TEXT)
    assert (completed.returncode, completed.stdout) == (0, TEXT.encode()[::-1])


def test_cli_client_sends_binary_from_stdin(cli, gearmand, run_worker):
    received = []
    run_worker([gearmand], {"reverse": lambda job: received.append(job.data) or reverse(job)})
    completed = run_cli(cli, "-f", "reverse", stdin=BINARY)
    assert received == [BINARY]
    assert completed.stdout == BINARY[::-1]


def test_cli_unique_id_and_background_reach_our_worker(cli, gearmand, run_worker):
    seen = []
    run_worker([gearmand], {"record": lambda job: seen.append((job.unique, job.data))})
    assert run_cli(cli, "-b", "-u", "unique-42", "-f", "record", "later").returncode == 0
    wait_for(lambda: seen, message="the background job")
    assert seen == [(b"unique-42", b"later")]


def test_cli_client_sees_our_workers_failure_and_reason(cli, gearmand, run_worker):
    def refuse(job):
        raise ValueError(f"nope {TEXT}")

    run_worker([gearmand], {"refuse": refuse})
    completed = run_cli(cli, "-f", "refuse", "x")
    assert completed.returncode != 0
    assert f"ValueError: nope {TEXT}".encode() in completed.stderr


# -- pygearman ------------------------------------------------------------------------


@pytest.fixture
def pygearman_worker(gearmand):
    """`pygearman_worker({b"name": callback(worker, job)})`: a pygearman worker in a thread."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    class StoppableWorker(pygearman.GearmanWorker):
        def after_poll(self, any_activity):
            return not stop.is_set()

    def start(tasks: dict[bytes, object]) -> StoppableWorker:
        worker = StoppableWorker([gearmand.address])
        for name, callback in tasks.items():
            worker.register_task(name, callback)
        thread = threading.Thread(target=worker.work, kwargs={"poll_timeout": 0.05}, daemon=True)
        thread.start()
        threads.append(thread)
        wait_registered(gearmand, next(iter(tasks)).decode())
        return worker

    yield start
    stop.set()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


@pytest.fixture
def pyclient(gearmand):
    client = pygearman.GearmanClient([gearmand.address])
    yield client
    client.shutdown()


def test_pygearman_client_to_our_worker(pyclient, gearmand, run_worker):
    run_worker([gearmand], {"reverse": reverse})
    request = pyclient.submit_job(b"reverse", BINARY + TEXT.encode(), poll_timeout=10)
    assert (request.state, request.result) == (pygearman.constants.JOB_COMPLETE, (BINARY + TEXT.encode())[::-1])


def test_pygearman_batch_to_our_worker(pyclient, gearmand, run_worker):
    run_worker([gearmand], {"reverse": reverse}, prefetch=4)
    jobs = [{"task": b"reverse", "data": b"%d\0" % n} for n in range(50)]
    requests = pyclient.submit_multiple_jobs(jobs, poll_timeout=10)
    assert [request.result for request in requests] == [(b"%d\0" % n)[::-1] for n in range(50)]


def test_pygearman_background_job_to_our_worker(pyclient, gearmand, run_worker):
    received = []
    run_worker([gearmand], {"record": lambda job: received.append(job.data)})
    pyclient.submit_job(b"record", TEXT.encode(), background=True, poll_timeout=10)
    wait_for(lambda: received == [TEXT.encode()], message="the background job")


def test_pygearman_client_sees_our_workers_failure(pyclient, gearmand, run_worker):
    run_worker([gearmand], {"refuse": lambda job: job.send_fail("no")})
    request = pyclient.submit_job(b"refuse", b"", poll_timeout=10)
    assert request.state == pygearman.constants.JOB_FAILED


def test_our_client_to_pygearman_worker(client, pygearman_worker):
    def chatty(worker, job):
        worker.send_job_status(job, 1, 2, poll_timeout=5)
        worker.send_job_data(job, b"chunk\0", poll_timeout=5)
        return job.data.upper()

    pygearman_worker({b"upper": chatty})
    (request,) = client.submit_multiple_jobs([JobRequest("upper", b"abc\0\xff" + TEXT.encode())], poll_timeout=10)
    assert request.outcome() == (b"abc\0\xff" + TEXT.encode()).upper()
    assert request.status == (1, 2)
    assert request.data_chunks == [b"chunk\0"]


@pytest.mark.parametrize("send_exception", [True, False], ids=["exception-then-fail", "fail"])
def test_our_client_sees_pygearman_workers_failure(client, pygearman_worker, send_exception):
    def fails(worker, job):
        if send_exception:
            # gearmand ends the job here; pygearman's WORK_FAIL that follows gets JOB_NOT_FOUND.
            worker.send_job_exception(job, b"KeyError: 'x'", poll_timeout=5)
        raise KeyError("x")

    pygearman_worker({b"fails": fails})
    with pytest.raises(GearmanJobFailed) as failure:
        client.submit_job("fails", b"", poll_timeout=10)
    assert failure.value.exception_data == (b"KeyError: 'x'" if send_exception else None)
