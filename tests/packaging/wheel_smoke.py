"""Smoke test of the built wheel, as a user installs it: not part of the pytest suite.

scripts/check-package installs the wheel into a clean virtualenv, copies this file to a
directory outside the checkout and runs it there with that virtualenv's interpreter and
`python -I`, so the checkout cannot be imported. It fails unless django_gearman comes
from that virtualenv, in this process and in the worker.

In a fresh `django-admin startproject` with the app installed and one app of tasks:
`manage.py check`, `migrate` and `makemigrations --check` (the wheel ships the migrations
its models need), then one job through a real gearmand and a real `manage.py gearman_worker`,
submitted with `manage.py gearman_submit`. Standard library and the installed package only.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import django_gearman
from django_gearman.testing import GearmandServer

#: Seconds any one command may take; a job waits in gearmand until the worker has registered.
COMMAND_TIMEOUT = 60

WORKER_MODULE = '''\
from pathlib import Path

import django_gearman
from django_gearman import gearman_task


@gearman_task
def add(a, b):
    return a + b


@gearman_task
def package_directory():
    return str(Path(django_gearman.__file__).resolve().parent)
'''

SETTINGS = '''
INSTALLED_APPS += ["django_gearman", "shop"]
GEARMAN_SERVERS = [{address!r}]
'''


def run(*args: str, cwd: Path) -> str:
    """Run a command, fail with its output unless it exits 0, return its stdout."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "DJANGO_"))}
    done = subprocess.run(args, cwd=cwd, env=environment, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT)
    if done.returncode != 0:
        sys.exit(f"wheel smoke: {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def expect(what: str, got: str, wanted: str) -> None:
    if got != wanted:
        sys.exit(f"wheel smoke: {what}: got {got!r}, expected {wanted!r}")
    print(f"wheel smoke: {what}: {got}")


def installed_package() -> Path:
    package = Path(django_gearman.__file__).resolve().parent
    if not package.is_relative_to(Path(sys.prefix).resolve()):
        sys.exit(f"wheel smoke: django_gearman imported from {package}, not from the virtualenv {sys.prefix}")
    if not (package / "py.typed").is_file():
        sys.exit(f"wheel smoke: {package} has no py.typed")
    return package


def make_project(directory: Path, gearmand: GearmandServer) -> Path:
    django_admin = str(Path(sys.executable).with_name("django-admin"))
    run(django_admin, "startproject", "mysite", cwd=directory)
    project = directory / "mysite"
    run(sys.executable, "manage.py", "startapp", "shop", cwd=project)
    workers = project / "shop" / "gearman_workers"
    workers.mkdir()
    (workers / "__init__.py").write_text("")
    (workers / "worker.py").write_text(WORKER_MODULE)
    with open(project / "mysite" / "settings.py", "a") as settings:
        settings.write(SETTINGS.format(address=gearmand.address))
    return project


def main() -> None:
    package = installed_package()
    print(f"wheel smoke: django_gearman from {package}")
    directory = Path(tempfile.mkdtemp(prefix="wheel-smoke-"))
    gearmand = GearmandServer(log_dir=str(directory)).start()
    worker = None
    try:
        project = make_project(directory, gearmand)
        manage = (sys.executable, "manage.py")
        run(*manage, "check", cwd=project)
        run(*manage, "migrate", "--noinput", cwd=project)
        run(*manage, "makemigrations", "--check", "--dry-run", cwd=project)
        with open(directory / "worker.log", "wb") as log:
            worker = subprocess.Popen([*manage, "gearman_worker", "-a", "shop", "-n", "worker"], cwd=project,
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        submit = (*manage, "gearman_submit", "--timeout", str(COMMAND_TIMEOUT))
        expect("shop.worker.add [2, 3] on a real worker", run(*submit, "shop.worker.add", "[2, 3]", cwd=project), "5")
        expect("the worker's django_gearman", run(*submit, "shop.worker.package_directory", cwd=project),
               f'"{package}"')
        worker.send_signal(signal.SIGTERM)
        expect("worker exit status after SIGTERM", str(worker.wait(COMMAND_TIMEOUT)), "0")
    except BaseException:
        if (directory / "worker.log").exists():
            print((directory / "worker.log").read_text(errors="replace"), file=sys.stderr)
        raise
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.wait()
        gearmand.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print("wheel smoke: passed")


if __name__ == "__main__":
    main()
