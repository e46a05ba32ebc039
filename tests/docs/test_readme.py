"""README.md's code blocks, run as a reader would run them.

How a block is marked: an HTML comment on the line just before its opening fence (GitHub does
not show it) says what the block is and so how this module runs it:

    <!-- runs: KIND -->
    ```python
    ...
    ```

In a fresh project (`django-admin startproject mysite`, `manage.py startapp shop`, the app
installed, a real gearmand), in README order within each kind:

- `settings`: appended to mysite/settings.py. `NAME = [..., X]` means the list already there
  plus X; the address 127.0.0.1:4730 becomes the test's gearmand. `manage.py check` must pass.
- `project-file`: a file of the project, named by its first line (`# shop/gearman_workers/worker.py`);
  packages get the `__init__.py` the README's tree shows.
- `project-workers`: each `python manage.py gearman_worker ...` line is started as a real worker,
  which must register with gearmand, and must exit 0 on SIGTERM at the end.
- `project-shell`: Python run in one `manage.py shell`-like process once the workers serve,
  the blocks sharing one namespace (a later block uses the `client` of an earlier one).
- `gearman-cli`: each `gearman ...` line run against the test's gearmand (`-h`/`-p` added);
  it must print the first word of its `# comment`.
- `project-pytest`: a test module run with pytest in the project (the shipped fixtures).

Only what ties a block to a machine is changed (the gearmand address); the test adds to the
project what any real one has: its own app in INSTALLED_APPS, `GEARMAN_DEFAULT_TIMEOUT` (so a
job nobody serves fails instead of hanging) and, on Django 5.2, the tasks backport as the
README says (`"django_tasks"` installed, `django_tasks` imported instead of `django.tasks`).

Not run, but checked (an illustration still has to be correct as far as it goes):
- `supervisord (...)`: run by tests/workers/test_supervisord.py; here it must parse as ini.
- `no, REASON` or no marker: python must compile, sh must parse (`bash -n`) and its `./`-less
  relative paths (`scripts/demo`) must exist, ini must parse; in `console` transcripts every
  `$ python manage.py COMMAND ARGS` must parse with that command's real argument parser, and
  fail to parse exactly where the transcript shows `$ echo $?` answering 2.
Anywhere in README, `pip install NAME[EXTRAS]` must name this distribution and its extras.
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import django
import pytest
from django.core.management import CommandError, load_command_class
from support.processes import WorkerProcess
from support.projects import FreshProject

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PROJECT_KINDS = ("settings", "project-file", "project-workers", "project-shell", "gearman-cli", "project-pytest")
KINDS = (*PROJECT_KINDS, "supervisord", "no")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    language: str
    kind: str  # "" when unmarked
    text: str

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.language or 'plain'}{', runs: ' + self.kind if self.kind else ''})"


def readme_blocks() -> list[Block]:
    lines = README.read_text().splitlines()
    blocks, index = [], 0
    while index < len(lines):
        fence = re.fullmatch(r"```(\S*)", lines[index])
        if not fence:
            index += 1
            continue
        end = lines.index("```", index + 1)
        marker = re.fullmatch(r"<!-- runs: ([\w-]+).*-->", lines[index - 1].strip()) if index else None
        blocks.append(Block(index + 1, fence.group(1), marker.group(1) if marker else "",
                            "\n".join(lines[index + 1:end]) + "\n"))
        index = end + 1
    return blocks


BLOCKS = readme_blocks()


def blocks(kind: str) -> list[Block]:
    return [block for block in BLOCKS if block.kind == kind]


def illustrations(language: str) -> list[Block]:
    return [block for block in BLOCKS if block.language == language and block.kind in ("", "no", "supervisord")]


def test_markers_name_known_kinds():
    unknown = [f"{block}" for block in BLOCKS if block.kind and block.kind not in KINDS]
    assert not unknown, f"unknown '<!-- runs: KIND -->' markers (known: {', '.join(KINDS)}): {unknown}"
    assert all(blocks(kind) for kind in PROJECT_KINDS), "README lost the blocks of a kind this test runs"


@pytest.mark.parametrize("block", illustrations("python"), ids=str)
def test_python_illustration_compiles(block):
    compile(block.text, str(block), "exec")


@pytest.mark.parametrize("block", illustrations("sh"), ids=str)
def test_shell_illustration_parses_and_its_scripts_exist(block):
    checked = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
    assert checked.returncode == 0, f"{block}: {checked.stderr}"
    for line in block.text.splitlines():
        words = shlex.split(line, comments=True)
        if words and "/" in words[0] and not words[0].startswith(("/", "~", ".venv")):
            assert (ROOT / words[0]).exists(), f"{block} runs {words[0]}, which is not in the repository"


@pytest.mark.parametrize("block", illustrations("ini"), ids=str)
def test_ini_illustration_parses(block):
    configparser.RawConfigParser(inline_comment_prefixes=(";",)).read_string(block.text)


def transcript_commands(block: Block):
    """(arguments after `python manage.py`, whether the transcript shows them refused) per command."""
    lines = block.text.splitlines()
    prompts = [index for index, line in enumerate(lines) if line.startswith("$ ")]
    for number, index in enumerate(prompts):
        words = shlex.split(lines[index][2:])
        if words[:2] != ["python", "manage.py"]:
            continue
        following = prompts[number + 1] if number + 1 < len(prompts) else len(lines)
        refused = (following < len(lines) and lines[following] == "$ echo $?"
                   and lines[following + 1:following + 2] == ["2"])
        yield words[2:], refused


@pytest.mark.parametrize("block", illustrations("console"), ids=str)
def test_console_transcript_commands_parse(block):
    commands = list(transcript_commands(block))
    assert commands, f"{block} shows no `$ python manage.py` command"
    for arguments, refused in commands:
        name, *options = arguments
        command = load_command_class("django_gearman", name)
        parser = command.create_parser("manage.py", name)
        try:
            parser.parse_args(options)
            parsed = True
        except (CommandError, SystemExit):
            parsed = False
        assert parsed != refused, (f"{block}: `manage.py {shlex.join(arguments)}` "
                                   f"{'parses' if parsed else 'is refused'}, unlike what the transcript shows")


def pyproject_table(name: str) -> str:
    """The text of one table of pyproject.toml (tomllib needs Python 3.11)."""
    text = (ROOT / "pyproject.toml").read_text()
    return re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S).group(1)


def test_pip_install_lines_name_this_distribution():
    distribution = re.search(r'^name = "([^"]+)"', pyproject_table("project"), re.M).group(1)
    extras = set(re.findall(r"^([\w-]+) = \[", pyproject_table("project.optional-dependencies"), re.M))
    installs = re.findall(r'pip install\s+"?([^\s"`\[]+)(?:\[([^\]]*)\])?', README.read_text())
    assert installs and "tasks" in extras
    for target, wanted_extras in installs:
        if not target.startswith(("/", ".")):
            assert target == distribution, f"README says `pip install {target}`; the distribution is {distribution}"
        unknown = set(filter(None, wanted_extras.split(","))) - extras
        assert not unknown, f"README installs extras {unknown} that pyproject.toml does not define"


# The fresh project


def settings_fragment(block: Block, address: str) -> str:
    text = re.sub(r"^(\w+) = \[\.\.\., ", r"\1 = [*\1, ", block.text, flags=re.M)
    return text.replace("127.0.0.1:4730", address)


def for_this_django(text: str) -> str:
    """As README says for Django 5.2: import from django_tasks instead of django.tasks."""
    return text if django.VERSION >= (6, 0) else text.replace("from django.tasks ", "from django_tasks ")


class ReadmeProject(FreshProject):
    """The fresh project, with README's blocks written, started and run in it."""

    def __init__(self, directory: Path, gearmand):
        super().__init__(directory)
        self.gearmand = gearmand

    def write_file(self, block: Block) -> None:
        header = block.text.splitlines()[0]
        assert re.fullmatch(r"# [\w/]+\.py", header), f"{block}: a project-file starts with '# path/of/file.py'"
        self.write(header[2:], for_this_django(block.text))

    def start_workers(self, block: Block, log_directory: Path) -> list[WorkerProcess]:
        workers = []
        for line in block.text.splitlines():
            words = shlex.split(line, comments=True)
            assert words[:3] == ["python", "manage.py", "gearman_worker"], f"{block}: {line!r} is not a worker"
            log = log_directory / f"worker-{block.line}-{len(workers)}.log"
            workers.append(WorkerProcess(words[3:], self.env, [self.gearmand.address], log,
                                         manage_py=self.root / "manage.py"))
        return workers

    def run_shell_blocks(self, shell_blocks: list[Block]) -> None:
        """Every block in one process, one namespace; a traceback names the README line."""
        (self.root / "readme_blocks.json").write_text(json.dumps(
            [{"line": block.line, "text": for_this_django(block.text)} for block in shell_blocks]))
        (self.root / "readme_shell.py").write_text(SHELL_DRIVER)
        self.run(sys.executable, "readme_shell.py")

    def run_gearman_cli(self, block: Block) -> None:
        host, port = self.gearmand.address.split(":")
        for line in block.text.splitlines():
            command, _, comment = line.partition("#")
            words = shlex.split(command)
            assert words[0] == "gearman", f"{block}: {line!r} does not run the gearman CLI"
            expected = comment.split()[0].rstrip(":")
            printed = self.run("gearman", "-h", host, "-p", port, *words[1:]).stdout.strip()
            assert printed == expected, f"{block}: {line!r} printed {printed!r}"

    def run_pytest(self, block: Block) -> None:
        (self.root / f"test_readme_{block.line}.py").write_text(block.text)
        done = self.pytest("-q", f"test_readme_{block.line}.py")
        assert done.returncode == 0, f"{block}: pytest exited {done.returncode}:\n{done.stdout}{done.stderr}"


SHELL_DRIVER = '''\
import json, os, sys, traceback

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
import django

django.setup()
namespace = {"__name__": "__main__"}
for block in json.load(open("readme_blocks.json")):
    # Padded so that tracebacks give README's own line numbers.
    code = compile("\\n" * block["line"] + block["text"], "README.md", "exec")
    try:
        exec(code, namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"the project-shell block at README.md:{block['line']} failed")
'''


def test_readme_runs_in_a_fresh_project(tmp_path, gearmand):
    project = ReadmeProject(tmp_path, gearmand)
    project.add_settings('INSTALLED_APPS += ["shop"]\n')
    if django.VERSION < (6, 0):
        project.add_settings('INSTALLED_APPS += ["django_tasks"]\n')
    for block in blocks("settings"):
        project.add_settings(settings_fragment(block, gearmand.address))
    project.add_settings("GEARMAN_DEFAULT_TIMEOUT = 20\n")
    for block in blocks("project-file"):
        project.write_file(block)
    project.manage("check")
    project.manage("migrate", "django_gearman", "-v", "0")  # as Installation says

    workers = [worker for block in blocks("project-workers") for worker in project.start_workers(block, tmp_path)]
    try:
        for worker in workers:
            worker.wait_registered()
        project.run_shell_blocks(blocks("project-shell"))
        for block in blocks("gearman-cli"):
            project.run_gearman_cli(block)
        for block in blocks("project-pytest"):
            project.run_pytest(block)
        for worker in workers:
            worker.signal(signal.SIGTERM)
        exits = {shlex.join(worker.args): worker.wait() for worker in workers}
        assert set(exits.values()) == {0}, f"workers' exit statuses after SIGTERM: {exits}"
    finally:
        for worker in workers:
            worker.stop()
