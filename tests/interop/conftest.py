"""Peers in other languages, from Debian's packages: PHP (php-cli, php-gearman),
Perl (libgearman-client-perl) and the gearman CLI (gearman-tools). Missing
ones fail the tests with the command that installs them: CI must run these."""

from __future__ import annotations

import shutil
import subprocess

import pytest

INSTALL = "apt-get install -y php-cli php-gearman libgearman-client-perl gearman-tools"


def _require(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.fail(f"{program} is not installed; install the Gearman peers with: {INSTALL}", pytrace=False)
    return path


def _php_modules(command: list[str]) -> list[str]:
    return subprocess.run([*command, "-m"], capture_output=True, text=True, check=True).stdout.split()


@pytest.fixture(scope="session")
def php() -> list[str]:
    """The command that runs PHP with the gearman extension loaded."""
    command = [_require("php")]
    if "gearman" not in _php_modules(command):
        # php-gearman enables itself for every installed PHP SAPI with phpenmod; a CLI
        # installed afterwards, or another PHP version first on PATH, lacks the
        # conf.d link. Loading the extension by name needs no configuration at all.
        command += ["-d", "extension=gearman"]
        if "gearman" not in _php_modules(command):
            pytest.fail(f"PHP's gearman extension is missing for {command[0]}; install it with: {INSTALL}",
                        pytrace=False)
    return command


@pytest.fixture(scope="session")
def perl() -> list[str]:
    """The command that runs Perl, checked to have Gearman::Client."""
    command = [_require("perl")]
    if subprocess.run([*command, "-MGearman::Client", "-MJSON::PP", "-e", "1"], capture_output=True).returncode:
        pytest.fail(f"Perl's Gearman::Client is missing; install it with: {INSTALL}", pytrace=False)
    return command


@pytest.fixture(scope="session")
def gearman_cli() -> str:
    return _require("gearman")
