"""The Django layer next to the protocol core, pygearman and C libgearman, in one run.

    python benchmarks/django.py                # 3 repeats, prints Markdown tables
    python benchmarks/django.py --repeats 5

Every measurement gets a fresh gearmand on a free 127.0.0.1 port, and the
Django side runs as users run it: `Task.submit_background`, `Task.submit`
and `GearmanClient.submit_multiple_jobs` here, `manage.py gearman_worker`
(benchmarks/project) in its own process. The protocol core and pygearman run
benchmarks/protocol.py's loops and workers; the C libgearman client and
worker are built from benchmarks/libgearman_bench.c when libgearman-dev is
installed. The Django rows run again with GEARMAN_SIGNING_KEY set and with
a task that stores its results (SQLite in a temporary directory), so each
feature's cost is a ratio. See docs/performance.md for what each number
includes.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "benchmarks" / "project"
# This file is benchmarks/django.py: with its own directory first on the path, `import django` would import it.
sys.path[0:1] = [str(ROOT), str(PROJECT)]
os.environ["DJANGO_SETTINGS_MODULE"] = "benchsite.settings"

import django  # noqa: E402

from benchmarks import protocol as core  # noqa: E402
from django_gearman.protocol import AdminClient  # noqa: E402
from django_gearman.testing import GearmandServer  # noqa: E402

#: One task argument whose request body (`{"args":[...],"kwargs":{}}`) is 100 bytes of JSON.
ARGUMENT = {"order": 1234567, "sku": "ABC-123-XYZ", "quantity": 3, "note": "x" * 33}
FOREGROUND_JOBS = core.FOREGROUND_JOBS
BACKGROUND_JOBS = core.BACKGROUND_JOBS
BATCHED_JOBS = core.BATCHED_JOBS
BATCH_SIZE = core.BATCH_SIZE
DRAIN_JOBS = core.DRAIN_JOBS
WARMUP = core.WARMUP
#: With the result store on every job waits for the disk (three commits), so fewer jobs.
STORED_JOBS = 200
STORED_WARMUP = 20
RSS_AFTER = (1_000, 100_000)
SIGNING_KEY = "benchmark-signing-key-" + "k" * 40
WORKER_MODULE = ("-a", "benchapp", "-n", "bench")
TIMEOUT = 600


# -- processes ------------------------------------------------------------------------------


class Workspace:
    """The temporary directory of one run: gearmand logs, the SQLite file, worker reports and the C build."""

    def __init__(self):
        self.directory = Path(tempfile.mkdtemp(prefix="django-gearman-benchmark-"))
        self.database = self.directory / "bench.sqlite3"

    def gearmand(self) -> GearmandServer:
        return GearmandServer(log_dir=str(self.directory)).start()

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


class DjangoWorker:
    """`manage.py gearman_worker -a benchapp -n bench` for one gearmand."""

    def __init__(self, workspace: Workspace, server: GearmandServer, *options: str, signed: bool = False):
        self.report = workspace.directory / f"report-{uuid.uuid4().hex}.json"
        environment = {**os.environ, "BENCH_GEARMAN": server.address, "BENCH_DB": str(workspace.database),
                       "BENCH_SIGNING_KEY": SIGNING_KEY if signed else "", "BENCH_REPORT": str(self.report),
                       # This checkout's django_gearman, whatever the interpreter has installed.
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        environment.pop("DJANGO_SETTINGS_MODULE")  # manage.py sets it
        with open(workspace.directory / "worker.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(PROJECT / "manage.py"), "gearman_worker", *WORKER_MODULE, *options],
                cwd=PROJECT, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def result(self) -> dict:
        """What it reported once --max-jobs made it exit."""
        status = self.process.wait(timeout=TIMEOUT)
        if status:
            raise RuntimeError(f"gearman_worker exited with {status}")
        return json.loads(self.report.read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wait_serving(server: GearmandServer, pid: int) -> None:
    from django_gearman.testing import serving_pids

    deadline = time.monotonic() + 60
    while pid not in serving_pids(server):
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker {pid} did not register with {server}")
        time.sleep(0.05)


def wait_drained(server: GearmandServer, function: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while core.queued(server, function):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{function}: jobs still queued after {TIMEOUT} s")
        time.sleep(0.02)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (/proc, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


# -- the Django side -------------------------------------------------------------------------


class Variant:
    """The Django API as configured: plain, signed (GEARMAN_SIGNING_KEY), or storing results."""

    def __init__(self, name: str, signed: bool = False, stored: bool = False):
        self.name, self.signed, self.stored = name, signed, stored

    @property
    def task(self):
        from benchapp.gearman_workers.bench import echo, echo_stored

        return echo_stored if self.stored else echo

    def settings(self, server: GearmandServer):
        from django.test import override_settings

        return override_settings(GEARMAN_SERVERS=[server.address],
                                 GEARMAN_SIGNING_KEY=SIGNING_KEY if self.signed else None)

    def jobs(self, count: int) -> int:
        return min(count, STORED_JOBS) if self.stored else count

    def warmup(self) -> int:
        return STORED_WARMUP if self.stored else WARMUP


PLAIN = Variant("django")
SIGNED = Variant("django, signed", signed=True)
STORED = Variant("django, stored", stored=True)
VARIANTS = (PLAIN, SIGNED, STORED)


def django_foreground(task, jobs: int) -> list[float]:
    latencies = []
    submit = task.submit
    for _ in range(jobs):
        started = time.perf_counter()
        if submit(ARGUMENT) != ARGUMENT:
            raise AssertionError("wrong result")
        latencies.append(time.perf_counter() - started)
    return latencies


def django_background(task, jobs: int) -> None:
    submit = task.submit_background
    for _ in range(jobs):
        submit(ARGUMENT)


def django_batched(task, jobs: int) -> None:
    from django_gearman import GearmanClient

    client = GearmanClient()
    for _ in range(0, jobs, BATCH_SIZE):
        client.submit_multiple_jobs(task, [[ARGUMENT]] * min(BATCH_SIZE, jobs), background=True)


# -- measurements ----------------------------------------------------------------------------


class Results:
    """Every measurement of the run: values[(metric, system)] is one value per repeat."""

    def __init__(self):
        self.values: dict[tuple[str, str], list[float]] = defaultdict(list)

    def add(self, metric: str, system: str, value: float) -> None:
        self.values[metric, system].append(value)
        print(f"  {metric} [{system}]: {value:,.1f}", file=sys.stderr, flush=True)

    def get(self, metric: str, system: str) -> list[float]:
        return self.values.get((metric, system), [])


class Run:
    def __init__(self, workspace: Workspace, results: Results, c_program: Path | None):
        self.workspace, self.results, self.c_program = workspace, results, c_program

    def fresh(self) -> GearmandServer:
        return self.workspace.gearmand()

    # Foreground: round trips one after another against one idle worker.

    def foreground(self, variant: Variant | str) -> None:
        server = self.fresh()
        try:
            if isinstance(variant, Variant):
                worker = DjangoWorker(self.workspace, server, signed=variant.signed)
                wait_serving(server, worker.pid)
                jobs = variant.jobs(FOREGROUND_JOBS)
                with variant.settings(server):
                    django_foreground(variant.task, variant.warmup())
                    cpu = cpu_seconds(worker.pid)
                    measurement = core.timed(lambda: django_foreground(variant.task, jobs), jobs)
                    worker_cpu = cpu_seconds(worker.pid) - cpu
                worker.stop()
                system = variant.name
            elif variant == "libgearman":
                function = "fg_c"
                worker = subprocess.Popen([str(self.c_program), "worker", server.address, function,
                                           str(WARMUP + FOREGROUND_JOBS)], stdout=subprocess.PIPE)
                core.wait_registered(server, function)
                self.c_client("foreground", server, function, WARMUP)
                measurement = self.c_client("foreground", server, function, FOREGROUND_JOBS)
                worker_cpu = None
                worker.communicate(timeout=TIMEOUT)
                system = variant
            else:
                function = f"fg_{variant}"
                worker = core.WorkerProcess(variant, server, function, WARMUP + FOREGROUND_JOBS)
                core.wait_registered(server, function)
                loop = CORE_LOOPS[variant, "foreground"]
                loop(server, function, WARMUP)
                cpu = cpu_seconds(worker.process.pid)
                measurement = core.timed(lambda: loop(server, function, FOREGROUND_JOBS), FOREGROUND_JOBS)
                worker_cpu = cpu_seconds(worker.process.pid) - cpu
                worker.result()
                system = SYSTEM_NAMES[variant]
        finally:
            server.stop()
        self.results.add("foreground round trips/s", system, measurement.rate)
        self.results.add("foreground p50 (µs)", system, measurement.percentile_us(0.5))
        self.results.add("foreground p99 (µs)", system, measurement.percentile_us(0.99))
        if measurement.cpu is not None:
            self.results.add("client CPU per round trip (µs)", system, measurement.cpu_per_job_us)
        if worker_cpu is not None:
            self.results.add("worker CPU per round trip (µs)", system, worker_cpu / measurement.jobs * 1e6)

    # Background submits, one at a time and in batches, nobody serving them.

    def submit(self, variant: Variant | str, kind: str) -> None:
        metric = ("background submits/s, one at a time" if kind == "one"
                  else f"background submits/s, batches of {BATCH_SIZE}")
        jobs = BACKGROUND_JOBS if kind == "one" else BATCHED_JOBS
        server = self.fresh()
        try:
            if isinstance(variant, Variant):
                jobs = variant.jobs(jobs) if kind == "one" else (BATCH_SIZE if variant.stored else jobs)
                loop = django_background if kind == "one" else django_batched
                with variant.settings(server):
                    loop(variant.task, min(jobs, BATCH_SIZE))  # warm-up
                    measurement = core.timed(lambda: loop(variant.task, jobs), jobs)
                function, expected, system = variant.task.function_name, jobs + min(jobs, BATCH_SIZE), variant.name
            elif variant == "libgearman":
                function, expected, system = f"{kind}_c", jobs, variant
                measurement = self.c_client("background" if kind == "one" else "batch", server, function, jobs)
            else:
                function, expected, system = f"{kind}_{variant}", jobs + BATCH_SIZE, SYSTEM_NAMES[variant]
                loop = CORE_LOOPS[variant, kind]
                loop(server, function, BATCH_SIZE)  # warm-up
                measurement = core.timed(lambda: loop(server, function, jobs), jobs)
            if core.queued(server, function) != expected:
                raise AssertionError(f"{system}: gearmand holds {core.queued(server, function)} jobs, not {expected}")
        finally:
            server.stop()
        self.results.add(metric, system, measurement.rate)
        self.results.add(f"client CPU per submit, {'one at a time' if kind == 'one' else 'batched'} (µs)", system,
                         measurement.cpu_per_job_us)

    # Drain: jobs queued first, then one worker started; its rate from first to last job.

    def drain(self, variant: Variant | str, prefetch: int) -> None:
        server = self.fresh()
        try:
            if isinstance(variant, Variant):
                jobs = variant.jobs(DRAIN_JOBS)
                with variant.settings(server):
                    django_batched(variant.task, jobs)
                worker = DjangoWorker(self.workspace, server, "--prefetch", str(prefetch), "--max-jobs", str(jobs),
                                      signed=variant.signed)
                result = worker.result()
                function, system = variant.task.function_name, variant.name
            elif variant == "libgearman":
                function, system = "drain_c", variant
                self.c_client("batch", server, function, DRAIN_JOBS)
                output = subprocess.run([str(self.c_program), "worker", server.address, function, str(DRAIN_JOBS)],
                                        capture_output=True, check=True, timeout=TIMEOUT).stdout
                result = json.loads(output)
            else:
                function, system = f"drain_{variant}_{prefetch}", SYSTEM_NAMES[variant]
                CORE_LOOPS["ours", "batch"](server, function, DRAIN_JOBS)
                result = core.WorkerProcess(variant, server, function, DRAIN_JOBS, prefetch).result()
            if core.queued(server, function):
                raise AssertionError(f"{system}: jobs left over")
        finally:
            server.stop()
        self.results.add(f"drain, jobs/s (prefetch {prefetch})", system, (result["jobs"] - 1) / result["seconds"])
        self.results.add(f"worker CPU per job, draining at prefetch {prefetch} (µs)", system,
                         result["cpu"] / result["jobs"] * 1e6)

    # Memory: one worker's RSS after 1,000 jobs and after 100,000.

    def memory(self) -> None:
        server = self.fresh()
        worker = DjangoWorker(self.workspace, server)
        try:
            wait_serving(server, worker.pid)
            done = 0
            with PLAIN.settings(server):
                for total in RSS_AFTER:
                    django_batched(PLAIN.task, total - done)
                    wait_drained(server, PLAIN.task.function_name)
                    done = total
                    self.results.add(f"worker RSS after {total:,} jobs (MB)", PLAIN.name, rss_mb(worker.pid))
        finally:
            worker.stop()
            server.stop()

    # The result store's yardstick: one INSERT and one UPDATE of a JobResult, each committed, same database.

    def insert_update(self, rounds: int = STORED_JOBS) -> None:
        from django_gearman.models import JobResult

        timings = []
        for _ in range(rounds):
            job_id = uuid.uuid4().hex
            started = time.perf_counter()
            JobResult.objects.create(job_id=job_id, task="baseline", function="baseline", status="queued",
                                     payload=b"x" * 100)
            JobResult.objects.filter(pk=job_id).update(status="running")
            timings.append(time.perf_counter() - started)
        JobResult.objects.filter(task="baseline").delete()
        self.results.add("SQLite INSERT + UPDATE, committed (µs)", "django", statistics.median(timings) * 1e6)

    # C libgearman

    def c_client(self, mode: str, server: GearmandServer, function: str, jobs: int) -> core.Measurement:
        output = subprocess.run([str(self.c_program), mode, server.address, function, str(jobs), str(BATCH_SIZE)],
                                capture_output=True, check=True, timeout=TIMEOUT).stdout
        report = json.loads(output)
        return core.Measurement(report["jobs"], report["seconds"], report["cpu"], report["latencies"] or None)

    def repeat(self, parts: set[str]) -> None:
        systems: list[Variant | str] = [*VARIANTS, "ours", "pygearman"]
        if self.c_program is not None:
            systems.append("libgearman")
        if "foreground" in parts:
            for system in systems:
                self.foreground(system)
        if "submit" in parts:
            for kind in ("one", "batch"):
                for system in systems:
                    self.submit(system, kind)
        if "drain" in parts:
            for prefetch in (1, 16):
                for system in systems:
                    if prefetch == 1 or system not in ("pygearman", "libgearman"):  # they grab one job at a time
                        self.drain(system, prefetch)
        if "memory" in parts:
            self.memory()
        if "store" in parts:
            self.insert_update()


PARTS = ("foreground", "submit", "drain", "memory", "store")


SYSTEM_NAMES = {"ours": "protocol core", "pygearman": "pygearman 0.2.6"}
#: benchmarks/protocol.py's client loops. The protocol core is called as the Django layer calls it, without
#: poll_timeout (so no poll() before each read); pygearman needs a finite one (PROTOCOL-NOTES.md).
CORE_LOOPS = {
    ("ours", "foreground"): functools.partial(core.ours_foreground, poll_timeout=None),
    ("ours", "one"): functools.partial(core.ours_background, poll_timeout=None),
    ("ours", "batch"): functools.partial(core.ours_batched, poll_timeout=None),
    ("pygearman", "foreground"): core.pygearman_foreground,
    ("pygearman", "one"): core.pygearman_background,
    ("pygearman", "batch"): core.pygearman_batched,
}


def build_libgearman(workspace: Workspace) -> Path | None:
    """The C client/worker, or None (with the reason on stderr) without libgearman-dev or a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    header = Path("/usr/include/libgearman-1.0/gearman.h")
    if compiler is None or not header.exists():
        print("C libgearman rows skipped: needs a C compiler and libgearman-dev", file=sys.stderr)
        return None
    program = workspace.directory / "libgearman_bench"
    subprocess.run([compiler, "-O2", "-o", str(program), str(ROOT / "benchmarks" / "libgearman_bench.c"),
                    "-lgearman"], check=True)
    return program


# -- the report ------------------------------------------------------------------------------


def spread(values: list[float]) -> str:
    if not values:
        return "–"
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:,.0f} ({low:,.0f}–{high:,.0f})" if len(values) > 1 else f"{middle:,.0f}"


def ratios(numerators: list[float], denominators: list[float], invert: bool = False) -> str:
    """Median (min–max) of the per-repeat ratios."""
    pairs = list(zip(numerators, denominators, strict=False))
    if not pairs:
        return "–"
    values = [(b / a) if invert else (a / b) for a, b in pairs]
    low, middle, high = min(values), statistics.median(values), max(values)
    return f"{middle:.2f}× ({low:.2f}–{high:.2f})" if len(values) > 1 else f"{middle:.2f}×"


def report(results: Results, systems: list[str]) -> None:
    metrics = list(dict.fromkeys(metric for metric, _ in results.values))
    print("Median of the repeats (min–max):\n")
    print("| measurement | " + " | ".join(systems) + " |")
    print("|---|" + "---:|" * len(systems))
    for metric in metrics:
        print(f"| {metric} | " + " | ".join(spread(results.get(metric, system)) for system in systems) + " |")
    print()
    print("Targets (ratios of the same repeat; median, min–max):\n")
    print("| target | measured |")
    print("|---|---:|")
    get = results.get
    for metric in ("background submits/s, one at a time", f"background submits/s, batches of {BATCH_SIZE}",
                   "drain, jobs/s (prefetch 1)", "drain, jobs/s (prefetch 16)"):
        print(f"| Django ≥ 0.9× core: {metric} | {ratios(get(metric, 'django'), get(metric, 'protocol core'))} |")
    p50 = "foreground p50 (µs)"
    print(f"| Django round-trip p50 ≤ 1.1× core's | {ratios(get(p50, 'django'), get(p50, 'protocol core'))} |")
    print(f"| Django round-trip p50 < pygearman's | {ratios(get(p50, 'django'), get(p50, 'pygearman 0.2.6'))} |")
    rate = "foreground round trips/s"
    print(f"| core foreground ≥ 1.3× pygearman | {ratios(get(rate, 'protocol core'), get(rate, 'pygearman 0.2.6'))} |")
    if get(rate, "libgearman"):
        print(f"| moonshot: Django ≥ 0.8× C round trips/s | {ratios(get(rate, 'django'), get(rate, 'libgearman'))} |")
        one = "background submits/s, one at a time"
        print(f"| moonshot: Django ≥ 0.8× C background submits/s | "
              f"{ratios(get(one, 'django'), get(one, 'libgearman'))} |")
    for metric in (rate, "background submits/s, one at a time", f"background submits/s, batches of {BATCH_SIZE}",
                   "drain, jobs/s (prefetch 1)", "drain, jobs/s (prefetch 16)"):
        print(f"| signing costs ≤ 10%: {metric}, signed/plain | "
              f"{ratios(get(metric, 'django, signed'), get(metric, 'django'))} |")
    baseline = get("SQLite INSERT + UPDATE, committed (µs)", "django")
    stored_cost = [stored - plain for stored, plain in zip(get(p50, "django, stored"), get(p50, "django"),
                                                           strict=False)]
    print(f"| result store ≤ 2× INSERT + UPDATE: (stored p50 − plain p50) / INSERT + UPDATE | "
          f"{ratios(stored_cost, baseline)} |")
    before, after = (get(f"worker RSS after {total:,} jobs (MB)", "django") for total in RSS_AFTER)
    growth = [b - a for a, b in zip(before, after, strict=False)]
    print(f"| RSS after 100,000 jobs − after 1,000 ≤ 5 MB | {spread(growth) if growth else '–'} MB "
          f"({', '.join(f'{value:+.1f}' for value in growth)}) |")


def machine() -> str:
    import gearman

    return (f"{os.cpu_count()} CPUs ({core.cpu_model()}), {platform.system()} {platform.release()}, Python "
            f"{platform.python_version()}, Django {django.get_version()}, pygearman {gearman.__version__}")


def scale_down(factor: int) -> None:
    global FOREGROUND_JOBS, BACKGROUND_JOBS, BATCHED_JOBS, DRAIN_JOBS, STORED_JOBS, RSS_AFTER
    FOREGROUND_JOBS, BACKGROUND_JOBS, BATCHED_JOBS, DRAIN_JOBS, STORED_JOBS = (
        count // factor for count in (FOREGROUND_JOBS, BACKGROUND_JOBS, BATCHED_JOBS, DRAIN_JOBS, STORED_JOBS))
    RSS_AFTER = tuple(count // factor for count in RSS_AFTER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="how many times to run every measurement (default 3)")
    parser.add_argument("--only", action="append", choices=PARTS,
                        help="run only these measurements (repeatable; default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="a tenth of the jobs, to try the benchmark out (not numbers to report)")
    arguments = parser.parse_args()
    if arguments.quick:
        scale_down(10)
    workspace = Workspace()
    os.environ["BENCH_DB"] = str(workspace.database)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = Results()
    try:
        c_program = build_libgearman(workspace)
        server = workspace.gearmand()
        with AdminClient(server.address) as admin:
            version = admin.version()
        server.stop()
        print(f"Machine: {machine()}, gearmand {version}; load average {os.getloadavg()[0]:.2f} at the start",
              file=sys.stderr)
        run = Run(workspace, results, c_program)
        for number in range(1, arguments.repeats + 1):
            print(f"repeat {number} of {arguments.repeats}", file=sys.stderr, flush=True)
            run.repeat(set(arguments.only or PARTS))
        print(f"Load average {os.getloadavg()[0]:.2f} at the end", file=sys.stderr)
        systems = [variant.name for variant in VARIANTS] + list(SYSTEM_NAMES.values())
        report(results, systems + (["libgearman"] if c_program else []))
    finally:
        workspace.cleanup()


if __name__ == "__main__":
    main()
