"""README's stunnel recipe is the configuration the TLS tests run (StunnelServer), but for
the test machine's ports and paths and the test-only logging options."""

from __future__ import annotations

import re
from pathlib import Path

from django_gearman.testing import StunnelServer

README = Path(__file__).resolve().parents[2] / "README.md"
#: Options StunnelServer adds for a test: its pid is held, its log read by the test.
TEST_ONLY = {"pid", "syslog", "output", "debug"}


def settings_of(config: str) -> list[tuple[str, str]]:
    """(section, key = value) per line, comments and blank lines left out."""
    section, found = "", []
    for line in config.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            section = line
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        found.append((section, key, value))
    return found


def test_the_readme_recipe_is_what_the_tls_tests_run():
    [recipe] = re.findall(r"```conf\n(; /etc/stunnel/gearmand\.conf.*?)```", README.read_text(), re.S)
    files = ("/etc/gearman/tls/server.pem", "/etc/gearman/tls/server.key", "/etc/gearman/tls/ca.pem")
    tunnel = StunnelServer("127.0.0.1:4730", *files[:2], client_ca_file=files[2])
    tested = [(section, key, "4731" if key == "accept" else value)
              for section, key, value in settings_of(tunnel.config(*files)) if key not in TEST_ONLY]
    assert settings_of(recipe) == tested
