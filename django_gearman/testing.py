"""Real servers and workers for tests, demos and benchmarks (no pytest needed here).

`GearmandServer` runs one gearmand on a free 127.0.0.1 port and stops it by
pid; `GearmandFactory` runs several; `StunnelServer` puts a TLS terminator in
front of one. `PostgresCluster` runs a private PostgreSQL server the same way.
`GearmanWorkerProcess` runs `gearman_worker` for this process's Django project
against a gearmand. The pytest fixtures built on them live in
`django_gearman.pytest_plugin`.
"""

from __future__ import annotations

import ast
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from .protocol import AdminClient

INSTALL_HINT = "sudo apt-get install -y gearman-job-server gearman-tools"
STUNNEL_INSTALL_HINT = "sudo apt-get install -y stunnel4"
SBIN_DIRECTORIES = ("/usr/sbin", "/usr/local/sbin", "/sbin", "/opt/homebrew/sbin")
POSTGRES_INSTALL_HINT = "sudo apt-get install -y postgresql"
#: Debian and Ubuntu keep the server programs here, one directory per major version, not on PATH.
POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def find_gearmand() -> str:
    """Path of the gearmand binary; raises with the install command if there is none."""
    return _find_program(("gearmand",), INSTALL_HINT)


def find_stunnel() -> str:
    """Path of stunnel (Debian names it stunnel4); raises with the install command if there is none."""
    return _find_program(("stunnel4", "stunnel"), STUNNEL_INSTALL_HINT)


def _find_program(names: tuple[str, ...], hint: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for name in names:
        for directory in SBIN_DIRECTORIES:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    raise RuntimeError(
        f"{names[0]} is not installed (looked on PATH and in {', '.join(SBIN_DIRECTORIES)}); install it with: {hint}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _temporary_directory(owner, prefix: str) -> str:
    """A directory removed once `owner` is gone (kept across its restarts)."""
    directory = tempfile.mkdtemp(prefix=prefix)
    weakref.finalize(owner, shutil.rmtree, directory, True)
    return directory


class _ServerProcess:
    """A server process this object started, listening on 127.0.0.1:`port`."""

    host = "127.0.0.1"
    port: int
    process: subprocess.Popen | None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.address

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self) -> None:
        """Stop the process we started (and only it), politely first."""
        process, self.process = self.process, None
        if process is not None:
            _stop(process)


class GearmandServer(_ServerProcess):
    """One gearmand process on 127.0.0.1. `str(server)` is its "host:port".

    To run it elsewhere, e.g. inside a network namespace: `command_prefix` runs gearmand
    through a command (`("ip", "netns", "exec", NAME)`) and `listen` is the address it
    binds there ("0.0.0.0": all of that namespace's addresses). `host:port` must still
    reach it from this process (tests/support/netns.py relays that port into the namespace).
    """

    def __init__(self, *options: str, port: int | None = None, log_dir: str | None = None,
                 listen: str = "127.0.0.1", command_prefix: Sequence[str] = ()):
        self.options = tuple(options)
        self.port = port or free_port()
        self.listen = listen
        self.command_prefix = tuple(command_prefix)
        self.log_dir = log_dir or _temporary_directory(self, "gearmand-")
        self.process: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"<GearmandServer {self.address} pid={self.pid}>"

    @property
    def log_file(self) -> Path:
        return Path(self.log_dir) / f"gearmand-{self.port}.log"

    @property
    def stderr_file(self) -> Path:
        return Path(self.log_dir) / f"gearmand-{self.port}.stderr"

    def start(self, timeout: float = 10.0) -> GearmandServer:
        command = [
            *self.command_prefix,
            find_gearmand(),
            f"--listen={self.listen}",
            f"--port={self.port}",
            f"--log-file={self.log_file}",
            # Its own pid file: as root, gearmand would otherwise share /var/gearmand.pid with every other one.
            f"--pid-file={Path(self.log_dir) / f'gearmand-{self.port}.pid'}",
            "--verbose=WARNING",
            *self.options,
        ]
        # A file, not a pipe: nobody reads a pipe while gearmand runs, so a chatty
        # gearmand would block on it, and its end would leak if gearmand died first.
        with open(self.stderr_file, "wb") as stderr:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.stderr_file.read_text(errors="replace")
                raise RuntimeError(
                    f"gearmand exited with {self.process.returncode} on port {self.port}: {error}{self._log_tail()}"
                )
            if self.answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"gearmand did not answer on {self.address} within {timeout} s{self._log_tail()}")

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as probe:
                probe.sendall(b"version\n")
                return probe.recv(64).startswith(b"OK")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def restart(self, timeout: float = 10.0) -> GearmandServer:
        """Stop and start again on the same port with the same options."""
        self.stop()
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.start(timeout=max(0.1, deadline - time.monotonic()))
            except RuntimeError:
                if time.monotonic() >= deadline:  # the port may linger briefly
                    raise
                time.sleep(0.1)

    def _log_tail(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()[-10:]
        except OSError:
            return ""
        return "\n--- gearmand log ---\n" + "\n".join(lines) if lines else ""


class GearmandFactory:
    """Start any number of servers; all of them are stopped when the test ends."""

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self.servers: list[GearmandServer] = []

    def __call__(self, *options: str, port: int | None = None) -> GearmandServer:
        for attempt in range(5):
            server = GearmandServer(*options, port=port, log_dir=self.log_dir)
            try:
                server.start()
            except RuntimeError:
                # Another process may have taken the free port before gearmand bound it.
                if port is not None or attempt == 4:
                    raise
                continue
            self.servers.append(server)
            return server
        raise AssertionError("unreachable")

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


class StunnelServer(_ServerProcess):
    """stunnel4 as a TLS terminator in front of a gearmand: TLS on a free 127.0.0.1
    port, plaintext to `upstream` ("host:port" or a `GearmandServer`).

    It presents `cert_file`/`key_file`; with `client_ca_file` it also demands a
    client certificate signed by that CA. It runs in the foreground with its
    configuration and log in a temporary directory, and is stopped by pid.
    """

    def __init__(self, upstream, cert_file, key_file, *, client_ca_file=None, port: int | None = None):
        self.upstream = str(upstream)
        self.port = port or free_port()
        self.directory = _temporary_directory(self, "stunnel-")
        self.config_file = Path(self.directory) / "stunnel.conf"
        self.log_file = Path(self.directory) / "stunnel.log"
        self.config_file.write_text(self.config(cert_file, key_file, client_ca_file))
        self.process: subprocess.Popen | None = None

    def config(self, cert_file, key_file, client_ca_file=None) -> str:
        """The stunnel configuration this server runs with (the README's recipe, on a test port)."""
        lines = [
            "foreground = yes",
            "pid =",  # no pid file: we hold the pid
            "syslog = no",
            f"output = {self.log_file}",
            "debug = info",
            "",
            "[gearmand]",
            f"accept = {self.host}:{self.port}",
            f"connect = {self.upstream}",
            f"cert = {cert_file}",
            f"key = {key_file}",
        ]
        if client_ca_file is not None:
            lines += [f"CAfile = {client_ca_file}", "verifyChain = yes", "requireCert = yes"]
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return f"<StunnelServer {self.address} -> {self.upstream} pid={self.pid}>"

    def start(self, timeout: float = 10.0) -> StunnelServer:
        with open(Path(self.directory) / "stunnel.stderr", "wb") as stderr:
            self.process = subprocess.Popen(
                [find_stunnel(), str(self.config_file)], stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"stunnel exited with {self.process.returncode} on port {self.port}:\n{self.log()}")
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"stunnel did not listen on {self.address} within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        """What stunnel logged so far (handshakes, refused certificates)."""
        found = [path.read_text(errors="replace") for path in (self.log_file, Path(self.directory) / "stunnel.stderr")
                 if path.exists()]
        return "".join(found)


def find_postgres_bin() -> Path:
    """The directory of PostgreSQL's initdb and postgres: the one on PATH, else Debian's
    newest /usr/lib/postgresql/N/bin; raises with the install command if there is none."""
    on_path = shutil.which("initdb")
    debian = sorted(map(Path, glob.glob(POSTGRES_BIN_GLOB)), key=_major_version, reverse=True)
    for directory in ([Path(on_path).resolve().parent] if on_path else []) + debian:
        if all(os.access(directory / program, os.X_OK) for program in ("initdb", "postgres")):
            return directory
    raise RuntimeError(
        f"PostgreSQL is not installed (looked for initdb and postgres on PATH and in {POSTGRES_BIN_GLOB}); "
        f"install it with: {POSTGRES_INSTALL_HINT}"
    )


def _major_version(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in bin_dir.parent.name.split(".") if part.isdigit())


#: Durability traded for speed: a test cluster is thrown away, never recovered.
FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "16MB",
}


class PostgresCluster:
    """A private PostgreSQL server: `initdb` in a temporary directory, `postgres` on a free
    127.0.0.1 port and on a unix socket in that directory, stopped by pid.

    initdb and postgres refuse to run as root: as root, both run as the unprivileged
    account `run_as` (by default "postgres", which Debian's package creates); otherwise
    as ourselves. Made for tests: no fsync, no password (trust authentication, reachable
    from this machine only), one superuser role, "postgres". `settings` adds or
    overrides server settings (`{"max_connections": "200"}`). `with PostgresCluster() as
    cluster:` starts it and at the end stops it and removes its files.
    """

    host = "127.0.0.1"
    #: The superuser role (not an operating-system account).
    user = "postgres"

    def __init__(self, *, port: int | None = None, run_as: str = "postgres",
                 settings: Mapping[str, str] | None = None):
        self.bin_dir = find_postgres_bin()
        self.port = port
        self.settings = {**FAST_SETTINGS, **(settings or {})}
        self._account = _unprivileged_account(run_as)
        self.directory = Path(tempfile.mkdtemp(prefix="pgcluster-"))
        # Kept across restarts (the data and the log); removed once this object is gone.
        self._remove_files = weakref.finalize(self, shutil.rmtree, self.directory, True)
        if self._account:
            os.chown(self.directory, self._account.pw_uid, self._account.pw_gid)
        self.process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def __repr__(self) -> str:
        return f"<PostgresCluster {self.host}:{self.port} pid={self.pid}>"

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        self._remove_files()

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string (gearmand's `--libpq-conninfo`, psql's argument). It goes
        through the unix socket, so processes in other network namespaces reach the server too."""
        return f"host={self.socket_dir} port={self.port} user={self.user} dbname={dbname}"

    def database_settings(self, name: str) -> dict[str, str]:
        """An entry of Django's DATABASES for database `name` on this server, over TCP."""
        return {"ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": self.user,
                "HOST": self.host, "PORT": str(self.port)}

    def create_database(self, name: str) -> str:
        """Create an empty database; returns its name."""
        self._run("createdb", "--host", str(self.socket_dir), "--port", str(self.port), "--username", self.user, name,
                  as_account=False)
        return name

    def start(self, timeout: float = 30.0) -> PostgresCluster:
        """initdb on first use, then start the server; returns once it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return self
        if not (self.data_dir / "PG_VERSION").is_file():
            self._run("initdb", "--pgdata", str(self.data_dir), "--username", self.user, "--auth", "trust",
                      "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
        choose_port = self.port is None  # then kept: a restart comes back on the same port
        for _attempt in range(5):
            if choose_port:
                self.port = free_port()
            complaint = self._launch(timeout)
            if complaint is None:
                return self
            # Another process may have taken the free port before postgres bound it.
            if not choose_port or "Address already in use" not in complaint:
                break
        raise RuntimeError(f"postgres exited on port {self.port}: {complaint}")

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown of the server we started (and only it): SIGINT to its pid, which is
        what `pg_ctl stop -m fast` sends; SIGKILL if it has not exited after `timeout`."""
        process, self.process = self.process, None
        if process is not None:
            _stop(process, signal.SIGINT, timeout)

    def _launch(self, timeout: float) -> str | None:
        """Start postgres and wait until it is ready: None, or what it logged before it exited."""
        settings = {"listen_addresses": self.host, "port": str(self.port),
                    "unix_socket_directories": str(self.socket_dir), **self.settings}
        command = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        command += [f"--{name}={value}" for name, value in settings.items()]
        logged_before = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            cwd=self.directory, **self._account_options())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                with open(self.log_file, "rb") as log:
                    log.seek(logged_before)
                    return log.read().decode(errors="replace")
            if self._ready():
                return None
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"postgres did not become ready on port {self.port} within {timeout} s; see {self.log_file}")

    def _ready(self) -> bool:
        # postmaster.pid: pid, data directory, start time, port, socket directory,
        # listen address, shared memory key, and a status that reads "ready" once
        # connections are accepted (what `pg_ctl start -w` waits for).
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0] == str(self.pid) and lines[7].strip() == "ready"

    def _run(self, program: str, *args: str, as_account: bool = True) -> None:
        options = self._account_options() if as_account else {}
        result = subprocess.run([str(self.bin_dir / program), *args], stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, cwd=self.directory, timeout=120, **options)
        if result.returncode != 0:
            raise RuntimeError(f"{program} exited with {result.returncode}: {result.stderr or result.stdout}")

    def _account_options(self) -> dict:
        if self._account is None:
            return {}
        return {"user": self._account.pw_uid, "group": self._account.pw_gid, "extra_groups": []}


def _unprivileged_account(name: str) -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root, and there is no account {name!r} to run it as: "
            f"install Debian's postgresql package (it creates 'postgres'): {POSTGRES_INSTALL_HINT}, "
            f"or pass run_as= an unprivileged account"
        ) from None


def _stop(process: subprocess.Popen, signum: int = signal.SIGTERM, timeout: float = 10.0) -> int:
    """Send `signum` to a process we started, SIGKILL it if it is still there after `timeout`; its exit status."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def serving_pids(server) -> set[int]:
    """Pids of the `gearman_worker` processes gearmand lists with functions (client id "host:pid:label")."""
    with AdminClient(str(server), timeout=2) as admin:
        ids = [worker.client_id.split(":") for worker in admin.workers() if worker.functions]
    return {int(parts[1]) for parts in ids if len(parts) == 3 and parts[1].isdigit()}


class GearmanWorkerProcess:
    """`python -m django gearman_worker ARGS` for this process's Django project, serving one gearmand.

    The worker runs with this process's settings module, and with its GEARMAN_*
    settings as they are when it starts (so in a test, with what the test
    changed), except that clients and workers use `server` only; each database
    is the one this process uses (in a test, the test database, wherever a
    fixture put it). Its settings module, log and nothing else go in
    `directory`. It finds the project on this process's `sys.path`.
    """

    def __init__(self, args, server, directory, *, env: dict[str, str] | None = None):
        self.args = tuple(args)
        self.server = str(server)
        self.directory = Path(directory)
        self.env = dict(env or {})
        self.process: subprocess.Popen | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"<GearmanWorkerProcess {' '.join(self.args)} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_file(self) -> Path:
        return self.directory / "worker.log"

    @property
    def output(self) -> str:
        """Everything the worker printed so far (its log)."""
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self, timeout: float = 30.0) -> GearmanWorkerProcess:
        """Start it and return once gearmand lists it as a worker; RuntimeError with its log if it exits first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{WORKER_SETTINGS}.py").write_text(worker_settings_source(self.server))
        environment = {
            **os.environ,
            **self.env,
            "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
            "PYTHONPATH": os.pathsep.join([str(self.directory), *filter(os.path.exists, sys.path)]),
            "PYTHONUNBUFFERED": "1",
        }
        with open(self.log_file, "wb") as log:
            self.process = process = subprocess.Popen(
                [sys.executable, "-m", "django", "gearman_worker", *self.args],
                env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        try:
            self._wait_registered(process, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_registered(self, process: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.registered():
            if process.poll() is not None:
                raise RuntimeError(f"{self.describe()} exited with status {process.returncode} before it "
                                   f"registered with gearmand at {self.server}:\n{self.output}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.describe()} did not register with gearmand at {self.server} "
                                   f"within {timeout} s:\n{self.output}")
            time.sleep(0.05)

    def describe(self) -> str:
        return f"gearman_worker {' '.join(self.args)} (pid {self.pid})"

    def registered(self) -> bool:
        """Whether gearmand lists this process among its workers."""
        try:
            return self.pid in serving_pids(self.server)
        except OSError:
            return False

    def exited_by_itself(self) -> bool:
        """Whether it ended with a non-zero status without `stop()` or `kill()` (a crash, a bad option)."""
        return not self._stopped and self.process is not None and self.process.poll() not in (None, 0)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (the worker finishes its job in hand), SIGKILL after `timeout`; returns the exit status."""
        self._stopped = True
        return _stop(self.process, timeout=timeout) if self.process is not None else None

    def kill(self) -> None:
        """SIGKILL, as a crash would: the job in hand goes back to gearmand."""
        self._stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


#: The settings module a `GearmanWorkerProcess` writes in its directory.
WORKER_SETTINGS = "gearman_worker_settings"
#: What of a database's settings a worker takes from the process that starts it: which database.
CONNECTION_SETTINGS = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")


def worker_settings_source(server: str) -> str:
    """A settings module: this process's settings module, then its GEARMAN_* settings as they are now
    (servers: `server` only) and the databases it uses now (CONNECTION_SETTINGS)."""
    from django.conf import settings
    from django.db import connections
    from django.db.backends.sqlite3.base import DatabaseWrapper as SQLiteDatabase

    module = os.environ.get("DJANGO_SETTINGS_MODULE")  # settings.SETTINGS_MODULE is None under override_settings
    if not module:
        raise RuntimeError("a gearman_worker process needs the project's settings module in DJANGO_SETTINGS_MODULE "
                           "(pytest-django sets it from --ds); settings.configure() cannot be handed to another "
                           "process")
    values = {name: getattr(settings, name) for name in dir(settings) if name.startswith("GEARMAN_")}
    values.update(GEARMAN_SERVERS=[server], GEARMAN_CLIENT_SERVERS=None, GEARMAN_WORKER_SERVERS=None)
    lines = [
        '"""Written by django_gearman.testing: the settings of the process that started this worker."""',
        f"from {module} import *  # noqa: F403",
        "",
        *(f"{name} = {_literal(name, value)}" for name, value in sorted(values.items())),
    ]
    for alias in settings.DATABASES:
        connection = connections[alias]
        in_memory = isinstance(connection, SQLiteDatabase) and connection.is_in_memory_db()
        if in_memory and connection.connection is not None:  # open: the test has this database
            warnings.warn(
                f"a gearman_worker process cannot open this process's in-memory SQLite database {alias!r}: its "
                f"jobs get an empty database of their own. Give the test database a file: "
                f"DATABASES[{alias!r}][\"TEST\"] = {{\"NAME\": BASE_DIR / \"test.sqlite3\"}}",
                RuntimeWarning, stacklevel=2,
            )
        where = {key: os.fspath(value) if isinstance(value, os.PathLike) else value
                 for key, value in connection.settings_dict.items() if key in CONNECTION_SETTINGS}
        lines.append(f"DATABASES.setdefault({alias!r}, {{}}).update({_literal(f'DATABASES[{alias!r}]', where)})")
    return "\n".join(lines) + "\n"


def _literal(name: str, value) -> str:
    text = repr(value)
    try:
        if ast.literal_eval(text) == value:
            return text
    except (ValueError, SyntaxError):
        pass
    raise RuntimeError(f"{name} = {text} cannot be given to a gearman_worker process: only Python literals "
                       "(strings, numbers, lists, dicts, None) can")
