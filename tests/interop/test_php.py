"""PHP (pecl gearman, from Debian's php-gearman) and Django, calling each other."""

from __future__ import annotations

import pytest
from support.interop import HERE, output_lines

from django_gearman import GearmanJobFailed


def test_a_php_client_calls_django_tasks_with_the_json_envelope(php, serve, gearman_settings, shop_data):
    serve("worker")
    serve("recipes")

    assert output_lines(*php, HERE / "php" / "client.php", gearman_settings) == [
        "add: 5",
        "add with kwargs: 42",
        'count_words: {"le":2,"café":1,"thé":1}',
        "price: decimal 9.50",
        "fail: ValueError: out of stock",
        f"warning: {shop_data / 'collected.log'} does not exist yet: nothing was collected",
        "complete: 0",
        "data: GET /index.html 200",
        "status: 1/3",
        "data: GET /missing 404",
        "status: 2/3",
        "status: 3/3",
        "complete: 2",
    ]


def test_a_php_worker_serves_a_django_client(php, start_peer_worker, gearman_settings, gearman):
    start_peer_worker(*php, HERE / "php" / "worker.php", gearman_settings,
                      functions=["php.add", "php.divide", "php.strrev"])

    assert gearman.submit_job("php.add", args=[1, 2], c=3) == 6
    assert gearman.submit_multiple_jobs("php.add", [[n, n] for n in range(4)]) == [0, 2, 4, 6]
    assert gearman.submit_job("php.strrev", data=b"gearman\x00\xff") == b"\xff\x00namraeg"
    with pytest.raises(GearmanJobFailed) as failed:
        gearman.submit_job("php.divide", args=[1, 0])
    assert (failed.value.exception_type, failed.value.message) == ("DivisionByZeroError", "cannot divide 1 by zero")
