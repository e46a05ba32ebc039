"""`manage.py demo`: gearmand, a worker and real jobs, start to finish.

Uses the gearmand in GEARMAN_SERVERS if the environment sets one; otherwise
starts a private gearmand on a free port and stops it afterwards. Results go
to the project's database (migrated first), where the admin's Gearman pages
show them: `--dashboard` keeps gearmand and the worker up after the jobs and
serves the admin with `manage.py runserver` until Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from django_gearman import GearmanClient, GearmanJobFailed, JobHandle, JobStatus
from django_gearman.protocol import AdminClient
from django_gearman.testing import GearmandServer

MANAGE_PY = Path(__file__).resolve().parents[3] / "manage.py"
#: The demo's admin account (testproject only: DEBUG is on and runserver listens on 127.0.0.1).
ADMIN = ("admin", "admin")
DASHBOARD_PATH = "/admin/django_gearman/"


class Command(BaseCommand):
    help = "Run a demo: gearmand, one worker, and a few real jobs; --dashboard then serves the admin."

    def add_arguments(self, parser):
        parser.add_argument("--dashboard", nargs="?", const="127.0.0.1:8000", metavar="HOST:PORT",
                            help="after the jobs, serve the admin there (default 127.0.0.1:8000) until Ctrl-C")

    def handle(self, *args, dashboard, **options):
        call_command("migrate", verbosity=0)
        if not User.objects.filter(username=ADMIN[0]).exists():
            User.objects.create_superuser(ADMIN[0], password=ADMIN[1])
        with ExitStack() as cleanup:
            servers = os.environ.get("GEARMAN_SERVERS")
            if not servers:
                log_dir = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="gearmand-"))
                server = GearmandServer(log_dir=log_dir).start()
                cleanup.callback(server.stop)
                servers = server.address
                self.stdout.write(f"started gearmand (pid {server.pid}) on {servers}")
            worker = self.start_worker(servers)
            cleanup.callback(self.stop_worker, worker)
            cleanup.enter_context(override_settings(GEARMAN_SERVERS=servers.split(","), GEARMAN_STORE_RESULTS=True))
            self.run_jobs(GearmanClient())
            address = dashboard or "127.0.0.1:8000"
            self.stdout.write(f"dashboard: http://{address}{DASHBOARD_PATH} (user {ADMIN[0]!r}, password {ADMIN[1]!r})")
            if dashboard:
                self.serve_dashboard(servers, dashboard)
            else:
                self.stdout.write(f"  to see it: GEARMAN_SERVERS={servers} {sys.executable} {MANAGE_PY} runserver, "
                                  "with that gearmand running (this one stops now; --dashboard keeps it)")

    def serve_dashboard(self, servers: str, address: str) -> None:
        """runserver, with this gearmand and worker, until Ctrl-C (or until it exits)."""
        self.stdout.write("serving the admin until Ctrl-C; gearmand and the worker stay up for it")
        self.stdout.flush()
        command = [sys.executable, str(MANAGE_PY), "runserver", "--noreload", address]
        server = subprocess.Popen(command, env={**os.environ, "GEARMAN_SERVERS": servers, "GEARMAN_STORE_RESULTS": "1"})
        try:
            server.wait()
        except KeyboardInterrupt:
            server.send_signal(signal.SIGINT)
            server.wait(30)

    def start_worker(self, servers: str) -> subprocess.Popen:
        env = {**os.environ, "GEARMAN_SERVERS": servers, "GEARMAN_STORE_RESULTS": "1"}
        command = [sys.executable, str(MANAGE_PY), "gearman_worker", "-a", "shop", "-n", "worker"]
        worker = subprocess.Popen(command, env=env)
        self.stdout.write(f"started worker: manage.py gearman_worker -a shop -n worker (pid {worker.pid})")
        deadline = time.monotonic() + 15
        while not self.registered(servers.split(",")[0], worker.pid):
            if worker.poll() is not None or time.monotonic() > deadline:
                raise CommandError("the worker did not come up; see its output above")
            time.sleep(0.05)
        return worker

    @staticmethod
    def registered(server: str, pid: int) -> bool:
        try:
            with AdminClient(server, timeout=1) as admin:
                return any(f":{pid}:" in worker.client_id for worker in admin.workers())
        except OSError:
            return False

    def stop_worker(self, worker: subprocess.Popen) -> None:
        worker.send_signal(signal.SIGTERM)
        self.stdout.write(f"worker exited with status {worker.wait(30)} after SIGTERM")

    def run_jobs(self, client: GearmanClient) -> None:
        say = self.stdout.write
        say(f"add(2, 3) -> {client.submit_job('shop.worker.add', args=[2, 3])}")
        say(f"reverse(b'gearman') -> {client.submit_job('shop.worker.reverse', data=b'gearman')!r}")
        results = client.submit_multiple_jobs([{"task": "shop.worker.add", "args": [n, n]} for n in range(5)])
        say(f"five add() jobs at once -> {results}")
        try:
            client.submit_job("shop.worker.fail", args=["out of stock"])
        except GearmanJobFailed as failure:
            say(f"fail('out of stock') -> GearmanJobFailed: {failure.exception_type}: {failure.message}")
        handle = client.submit_job("shop.worker.count_to", args=[5], background=True)
        say(f"count_to(5) in the background -> handle {handle}")
        self.show_progress(client, str(handle))

    def show_progress(self, client: GearmanClient, stored_handle: str) -> None:
        """Poll as a web view would, from the handle's string form, until gearmand no longer knows the job.

        On a terminal the bar is redrawn in place; otherwise each change is a new line."""
        live = self.stdout.isatty()
        handle = JobHandle.from_string(stored_handle)
        shown = None
        while (status := client.get_job_status(handle)).known:
            line = progress_bar(status)
            if live:
                self.stdout.write(f"\r  {line}", ending="")
                self.stdout.flush()
            elif line != shown:
                self.stdout.write(f"  {line}")
            shown = line
            time.sleep(0.05)
        self.stdout.write(("\r" if live else "") + f"  [{'#' * BAR_WIDTH}] done")


BAR_WIDTH = 20


def progress_bar(status: JobStatus) -> str:
    if not status.running:
        return f"[{'.' * BAR_WIDTH}] queued"
    if not status.denominator:
        return f"[{'.' * BAR_WIDTH}] started"
    filled = BAR_WIDTH * min(status.numerator, status.denominator) // status.denominator
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {status.numerator}/{status.denominator}"
