"""A real supervisord running the programs of a README section's ```ini block.

The [program:*] and [group:*] sections are read from README.md; only what
ties them to a production machine (interpreter and manage.py paths, working
directory, user, log files) is replaced. So the tests that use it fail when
the README gives advice that does not work.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from django_gearman.testing import serving_pids

from .processes import MANAGE_PY
from .waiting import wait_for

README = Path(__file__).resolve().parents[2] / "README.md"
INSTALL_HINT = "apt-get install -y supervisor   (or run scripts/bootstrap)"
STATES = {"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "UNKNOWN"}
STATUS_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<state>[A-Z]+)\s*(?:pid (?P<pid>\d+))?")


def readme_instancesections(heading: str) -> configparser.RawConfigParser:
    """The ```ini block of the README section under `heading` ("## Running workers")."""
    text = README.read_text()
    section = text[text.index(heading):]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```ini\n(.*?)```", section, re.S)
    assert block, f"README's {heading!r} section has no ```ini block"
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";",))
    parser.read_string(block.group(1))
    return parser


def find_instancetools() -> tuple[str, str]:
    tools = tuple(shutil.which(name) for name in ("supervisord", "supervisorctl"))
    if not all(tools):
        pytest.fail(f"supervisord/supervisorctl are not on PATH; install them with: {INSTALL_HINT}", pytrace=False)
    return tools


class Supervisor:
    """One supervisord in the foreground, with its own config, socket and logs in `directory`."""

    def __init__(self, directory: Path, env: dict[str, str], extra_worker_args: tuple[str, ...] = (),
                 heading: str = "## Running workers"):
        """The programs of README's section under `heading`; `extra_worker_args` are appended
        to every program's command."""
        self.heading = heading
        self.supervisord, self.supervisorctl = find_instancetools()
        self.directory = directory
        self.config = directory / "supervisord.conf"
        self.log = directory / "supervisord.log"
        self.config.write_text(self._config(extra_worker_args))
        with open(directory / "supervisord.out", "wb") as output:
            self.process = subprocess.Popen(
                [self.supervisord, "--nodaemon", "--configuration", str(self.config)],
                env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )

    def _config(self, extra_worker_args) -> str:
        parser = readme_instancesections(self.heading)
        self.processes = 0
        for section in parser.sections():
            program = parser[section]
            if section.startswith("group:"):
                self.group = section.removeprefix("group:")
            if not section.startswith("program:"):
                continue
            arguments = shlex.split(program["command"])[2:]  # what follows "python manage.py"
            program["command"] = shlex.join([sys.executable, str(MANAGE_PY), *arguments, *extra_worker_args])
            program["directory"] = str(MANAGE_PY.parent)
            program["stdout_logfile"] = str(self.directory / "%(program_name)s_%(process_num)02d.log")
            program.pop("user", None)
            self.processes += int(program.get("numprocs", "1"))
        socket = self.directory / "supervisor.sock"
        # supervisord puts this in the environment of every process it starts.
        self.server_url = f"unix://{socket}"
        parser["unix_http_server"] = {"file": str(socket)}
        parser["supervisord"] = {
            "logfile": str(self.log), "pidfile": str(self.directory / "supervisord.pid"),
            "childlogdir": str(self.directory), "loglevel": "info",
        }
        parser["rpcinterface:supervisor"] = {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
        }
        parser["supervisorctl"] = {"serverurl": self.server_url}
        rendered = io.StringIO()
        parser.write(rendered)
        return rendered.getvalue()

    def ctl(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.supervisorctl, "--configuration", str(self.config), *arguments],
            capture_output=True, text=True, timeout=120,
        )

    def status(self) -> dict[str, tuple[str, int | None]]:
        """{"shop:shop-worker_00": ("RUNNING", pid), ...}; empty while supervisord is not answering."""
        statuses = {}
        for line in self.ctl("status").stdout.splitlines():
            match = STATUS_LINE.match(line)
            if match and match["state"] in STATES:
                pid = int(match["pid"]) if match["pid"] else None
                statuses[match["name"]] = (match["state"], pid)
        return statuses

    def wait_states(self, state: str) -> dict[str, int | None]:
        """Wait until every process is in `state`; returns their pids."""
        def reached():
            if self.process.poll() is not None:
                pytest.fail(f"supervisord exited with {self.process.returncode}:\n{self.output()}")
            statuses = self.status()
            if len(statuses) == self.processes and all(s == state for s, _ in statuses.values()):
                return {name: pid for name, (_, pid) in statuses.items()}
            return None

        return wait_for(reached, timeout=30, message=f"all workers {state}\n{self.output()}")

    def wait_serving(self, gearmand) -> dict[str, int]:
        """Wait until every process runs and gearmand lists it with its tasks."""

        def registered():
            pids = self.wait_states("RUNNING")
            return pids if set(pids.values()) <= serving_pids(gearmand) else None

        return wait_for(registered, timeout=30, message=f"workers to register with gearmand\n{self.output()}")

    def process_log(self, name: str) -> str:
        """What process `name` printed ("shop:shop-worker_00", or "shop-scheduler", a program's one process)."""
        process = name.split(":")[-1]
        if not re.search(r"_\d{2}$", process):
            process += "_00"
        path = self.directory / f"{process}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def shut_down(self) -> None:
        """Stop supervisord (which stops its workers); make sure no process of ours is left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        leftovers = self.started_processes()
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):  # it may end on its own meanwhile
                os.kill(pid, signal.SIGKILL)
        assert not leftovers, f"supervisord left workers running: {leftovers}"

    def started_processes(self) -> list[int]:
        """Live processes this supervisord started. They carry its SUPERVISOR_SERVER_URL,
        unique to this test, so a pid reused by an unrelated process never matches."""
        marker = f"SUPERVISOR_SERVER_URL={self.server_url}".encode()
        pids = []
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if marker in environ.read_bytes().split(b"\0"):
                    pids.append(int(environ.parent.name))
            except OSError:
                pass  # exited meanwhile, or not ours to read
        return pids
