"""Throughput of django_gearman.protocol next to pygearman 0.2.6, against one fresh gearmand.

    python benchmarks/protocol.py            # prints a Markdown table

One gearmand on a free 127.0.0.1 port, one run of each measurement, no-op
jobs with 100-byte payloads. Workers run in their own processes (so client
and worker do not share a GIL) and report their own CPU time. pygearman is
always given bytes task names and a finite poll_timeout (see
PROTOCOL-NOTES.md for why). For each pair pygearman runs first, so anything
gearmand accumulates (queued background jobs) can only count against us.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django_gearman.protocol import AdminClient, Client, JobRequest, Worker  # noqa: E402
from django_gearman.testing import GearmandServer  # noqa: E402

PAYLOAD = b"x" * 100
POLL_TIMEOUT = 60.0
FOREGROUND_JOBS = 5_000
BACKGROUND_JOBS = 10_000
BATCHED_JOBS = 50_000
BATCH_SIZE = 1_000
DRAIN_JOBS = 20_000
WARMUP = 200


# -- workers, each in its own process ----------------------------------------------


def serve(implementation: str, server: str, function: str, jobs: int, prefetch: int) -> dict:
    """Do `jobs` jobs, then report seconds from first to last job and CPU seconds used."""
    marks: list[float] = []

    def record() -> bool:
        marks.append(time.perf_counter())
        return len(marks) >= jobs

    cpu_started = time.process_time()
    if implementation == "ours":
        worker = Worker([server], prefetch=prefetch)

        def job_done(job):
            if record():
                worker.stop()
            return job.data

        worker.register(function, job_done)
        worker.work()
        worker.close()
    else:
        import gearman

        class CountingWorker(gearman.GearmanWorker):
            def after_job(self):
                return len(marks) < jobs

        def job_done(worker, job):
            record()
            return job.data

        worker = CountingWorker([server])
        worker.register_task(function.encode(), job_done)
        worker.work(poll_timeout=POLL_TIMEOUT)
    return {
        "jobs": len(marks),
        "seconds": marks[-1] - marks[0],
        "cpu": time.process_time() - cpu_started,
    }


class WorkerProcess:
    def __init__(self, implementation: str, server: GearmandServer, function: str, jobs: int, prefetch: int = 1):
        command = [
            sys.executable, __file__, "worker", implementation, server.address, function, str(jobs), str(prefetch),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE)

    def result(self) -> dict:
        try:
            output, _ = self.process.communicate(timeout=600)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        if self.process.returncode:
            raise RuntimeError(f"worker process failed with {self.process.returncode}")
        return json.loads(output)


def wait_registered(server: GearmandServer, function: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with AdminClient(server.address) as admin:
            if any(row.function == function and row.available_workers for row in admin.status()):
                return
        time.sleep(0.01)
    raise RuntimeError(f"no worker registered for {function}")


def queued(server: GearmandServer, function: str) -> int:
    with AdminClient(server.address) as admin:
        return next((row.total for row in admin.status() if row.function == function), 0)


# -- client-side measurements ------------------------------------------------------------


class Measurement:
    """Rate of one client loop, with the client process's CPU time per job."""

    def __init__(self, jobs: int, seconds: float, cpu: float, latencies: list[float] | None = None):
        self.jobs, self.seconds, self.cpu, self.latencies = jobs, seconds, cpu, latencies

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def cpu_per_job_us(self) -> float:
        return self.cpu / self.jobs * 1e6

    def percentile_us(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1e6


def timed(loop, jobs: int) -> Measurement:
    cpu_started, started = time.process_time(), time.perf_counter()
    latencies = loop()
    return Measurement(jobs, time.perf_counter() - started, time.process_time() - cpu_started, latencies)


def ours_foreground(server: GearmandServer, function: str, jobs: int, poll_timeout: float | None = POLL_TIMEOUT
                    ) -> list[float]:
    client = Client([server.address])
    latencies = []
    for _ in range(jobs):
        started = time.perf_counter()
        if client.submit_job(function, PAYLOAD, poll_timeout=poll_timeout) != PAYLOAD:
            raise AssertionError("wrong result")
        latencies.append(time.perf_counter() - started)
    client.close()
    return latencies


def pygearman_foreground(server: GearmandServer, function: str, jobs: int) -> list[float]:
    import gearman

    client = gearman.GearmanClient([server.address])
    latencies = []
    for _ in range(jobs):
        started = time.perf_counter()
        request = client.submit_job(function.encode(), PAYLOAD, poll_timeout=POLL_TIMEOUT)
        if request.result != PAYLOAD:
            raise AssertionError(f"pygearman: job ended {request.state}")
        latencies.append(time.perf_counter() - started)
    client.shutdown()
    return latencies


def ours_background(server: GearmandServer, function: str, jobs: int, poll_timeout: float | None = POLL_TIMEOUT
                    ) -> None:
    client = Client([server.address])
    for _ in range(jobs):
        client.submit_job(function, PAYLOAD, background=True, poll_timeout=poll_timeout)
    client.close()


def pygearman_background(server: GearmandServer, function: str, jobs: int) -> None:
    import gearman

    client = gearman.GearmanClient([server.address])
    name = function.encode()
    for _ in range(jobs):
        request = client.submit_job(name, PAYLOAD, background=True, poll_timeout=POLL_TIMEOUT)
        if request.state != gearman.constants.JOB_CREATED:
            raise AssertionError(f"pygearman: background job {request.state}")
    client.shutdown()


def ours_batched(server: GearmandServer, function: str, jobs: int, poll_timeout: float | None = POLL_TIMEOUT) -> None:
    client = Client([server.address])
    for _ in range(jobs // BATCH_SIZE):
        batch = [JobRequest(function, PAYLOAD, background=True) for _ in range(BATCH_SIZE)]
        client.submit_multiple_jobs(batch, poll_timeout=poll_timeout)
        if any(request.error for request in batch):
            raise AssertionError("a batched job failed")
    client.close()


def pygearman_batched(server: GearmandServer, function: str, jobs: int) -> None:
    import gearman

    client = gearman.GearmanClient([server.address])
    name = function.encode()
    for _ in range(jobs // BATCH_SIZE):
        requests = client.submit_multiple_jobs(
            [{"task": name, "data": PAYLOAD} for _ in range(BATCH_SIZE)],
            background=True, wait_until_complete=False, poll_timeout=POLL_TIMEOUT,
        )
        if any(request.state != gearman.constants.JOB_CREATED for request in requests):
            raise AssertionError("pygearman: a batched job was not created")
    client.shutdown()


# -- the run ------------------------------------------------------------------------------


def foreground(server, implementation: str) -> tuple[Measurement, dict]:
    function = f"fg_{implementation}"
    worker = WorkerProcess(implementation, server, function, WARMUP + FOREGROUND_JOBS)
    wait_registered(server, function)
    loop = ours_foreground if implementation == "ours" else pygearman_foreground
    loop(server, function, WARMUP)
    measurement = timed(lambda: loop(server, function, FOREGROUND_JOBS), FOREGROUND_JOBS)
    return measurement, worker.result()


def submit(server, implementation: str, kind: str, jobs: int) -> Measurement:
    loops = {
        ("ours", "one"): ours_background, ("pygearman", "one"): pygearman_background,
        ("ours", "batch"): ours_batched, ("pygearman", "batch"): pygearman_batched,
    }
    loop = loops[implementation, kind]
    function = f"{kind}_{implementation}"
    loop(server, f"warmup_{function}", BATCH_SIZE)
    measurement = timed(lambda: loop(server, function, jobs), jobs)
    if queued(server, function) != jobs:
        raise AssertionError(f"{function}: gearmand holds {queued(server, function)} jobs, expected {jobs}")
    return measurement


def drain(server, implementation: str, prefetch: int) -> dict:
    function = f"drain_{implementation}_{prefetch}"
    ours_batched(server, function, DRAIN_JOBS)
    result = WorkerProcess(implementation, server, function, DRAIN_JOBS, prefetch).result()
    if queued(server, function) != 0:
        raise AssertionError(f"{function}: jobs left over")
    result["rate"] = (result["jobs"] - 1) / result["seconds"]
    return result


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine(server: GearmandServer) -> str:
    with AdminClient(server.address) as admin:
        version = admin.version()
    return (
        f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, gearmand {version}, pygearman 0.2.6, "
        f"load average {os.getloadavg()[0]:.2f} at the start"
    )


def run() -> None:
    log_dir = tempfile.TemporaryDirectory(prefix="gearmand-benchmark-")
    server = GearmandServer(log_dir=log_dir.name).start()
    try:
        print(f"Machine: {machine(server)}", file=sys.stderr)
        rows = []
        fg = {name: foreground(server, name) for name in ("pygearman", "ours")}
        one = {name: submit(server, name, "one", BACKGROUND_JOBS) for name in ("pygearman", "ours")}
        batch = {name: submit(server, name, "batch", BATCHED_JOBS) for name in ("pygearman", "ours")}
        drained = {name: drain(server, name, 1) for name in ("pygearman", "ours")}
        drained16 = drain(server, "ours", 16)
        rows.append(("foreground round trips/s", fg["ours"][0].rate, fg["pygearman"][0].rate, "≥ 1.3×"))
        for label, fraction in (("foreground p50 latency (µs)", 0.5), ("foreground p99 latency (µs)", 0.99)):
            rows.append((label, fg["ours"][0].percentile_us(fraction), fg["pygearman"][0].percentile_us(fraction), ""))
        rows.append(("background submits/s, one at a time", one["ours"].rate, one["pygearman"].rate, "≥ 1.4×"))
        rows.append((f"background submits/s, batches of {BATCH_SIZE}", batch["ours"].rate, batch["pygearman"].rate,
                     "≥ 5×"))
        rows.append(("drain 20,000 queued jobs, jobs/s (prefetch 1)", drained["ours"]["rate"],
                     drained["pygearman"]["rate"], "≥ 2×"))
        rows.append(("drain 20,000 queued jobs, jobs/s (prefetch 16)", drained16["rate"],
                     drained["pygearman"]["rate"], ""))
        print("| measurement | ours | pygearman 0.2.6 | ours/pygearman | target |")
        print("|---|---:|---:|---:|---|")
        for label, ours, theirs, target in rows:
            print(f"| {label} | {ours:,.0f} | {theirs:,.0f} | {ours / theirs:.2f}× | {target} |")
        print()
        print("CPU per job (µs; target for ours ≤ 40) | ours | pygearman 0.2.6")
        print("|---|---:|---:|")
        cpu_rows = [
            ("client, foreground round trip", fg["ours"][0].cpu_per_job_us, fg["pygearman"][0].cpu_per_job_us),
            ("worker, foreground round trip", *(fg[name][1]["cpu"] / fg[name][1]["jobs"] * 1e6
                                                for name in ("ours", "pygearman"))),
            ("client, background submit one at a time", one["ours"].cpu_per_job_us, one["pygearman"].cpu_per_job_us),
            ("client, batched background submit", batch["ours"].cpu_per_job_us, batch["pygearman"].cpu_per_job_us),
            ("worker, draining at prefetch 1", *(drained[name]["cpu"] / drained[name]["jobs"] * 1e6
                                                 for name in ("ours", "pygearman"))),
        ]
        for label, ours, theirs in cpu_rows:
            print(f"| {label} | {ours:.1f} | {theirs:.1f} |")
        print(f"| worker, draining at prefetch 16 | {drained16['cpu'] / drained16['jobs'] * 1e6:.1f} | – |")
        print(f"\nLoad average {os.getloadavg()[0]:.2f} at the end", file=sys.stderr)
    finally:
        server.stop()
        log_dir.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker", help="internal: one worker process")
    worker.add_argument("implementation", choices=["ours", "pygearman"])
    worker.add_argument("server")
    worker.add_argument("function")
    worker.add_argument("jobs", type=int)
    worker.add_argument("prefetch", type=int)
    arguments = parser.parse_args()
    if arguments.command == "worker":
        result = serve(arguments.implementation, arguments.server, arguments.function, arguments.jobs,
                       arguments.prefetch)
        print(json.dumps(result))
    else:
        run()


if __name__ == "__main__":
    main()
