"""A fresh Django project made the way a user makes one (`django-admin startproject`,
`manage.py startapp`), for tests of what users get: nothing of testproject or of this
suite's environment in it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

#: Seconds one command in the fresh project may take (a pytest run in it included).
COMMAND_TIMEOUT = 180


class FreshProject:
    """`mysite/` (the project) with its app `shop/` (not installed yet), in `directory`."""

    def __init__(self, directory: Path):
        self.root = directory / "mysite"
        self.env = {name: value for name, value in os.environ.items()
                    if not name.startswith(("DJANGO_", "GEARMAN_", "PYTEST_", "PYTHONPATH"))}
        self.run(str(Path(sys.executable).with_name("django-admin")), "startproject", "mysite", cwd=directory)
        self.manage("startapp", "shop")

    def run(self, *command: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(command, cwd=cwd or self.root, env=self.env, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        if check:
            assert done.returncode == 0, f"{shlex.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        return done

    def manage(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "manage.py", *arguments, check=check)

    def pytest(self, *arguments: str, settings: str = "mysite.settings") -> subprocess.CompletedProcess:
        """pytest in the project, as its developers run it (the installed plugins, pytest-django)."""
        return self.run(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--ds={settings}", *arguments,
                        check=False)

    def write(self, path: str, text: str) -> None:
        """A file of the project (`shop/gearman_workers/worker.py`), with the packages it needs."""
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        for package in target.relative_to(self.root).parents[:-1]:
            (self.root / package / "__init__.py").touch()
        target.write_text(textwrap.dedent(text))

    def add_settings(self, text: str) -> None:
        with open(self.root / "mysite" / "settings.py", "a") as settings:
            settings.write("\n" + textwrap.dedent(text) + "\n")
