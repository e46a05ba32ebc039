"""Perl's Gearman::Client (Debian's libgearman-client-perl) calling Django tasks."""

from __future__ import annotations

from support.interop import HERE, output_lines


def test_a_perl_client_calls_django_tasks_with_the_json_envelope(perl, serve, gearman_settings):
    serve("worker")

    assert output_lines(*perl, HERE / "perl" / "client.pl", gearman_settings) == [
        "add: 5",
        "add with kwargs: 42",
        "task set: 10 11 12",
        "fail: yes, ValueError: out of stock",
    ]
