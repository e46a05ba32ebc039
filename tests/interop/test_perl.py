"""Perl's Gearman::Client (Debian's libgearman-client-perl) calling Django tasks."""

from __future__ import annotations

from .conftest import HERE, run


def test_a_perl_client_calls_django_tasks_with_the_json_envelope(perl, serve, gearman_settings):
    serve("worker")

    result = run(*perl, HERE / "perl" / "client.pl", gearman_settings)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "add: 5",
        "add with kwargs: 42",
        "task set: 10 11 12",
        "fail: yes, ValueError: out of stock",
    ]
