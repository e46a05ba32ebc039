"""docs/wire-format.md says what the code does: its examples are checked against
the codec byte for byte, and its PHP example is run against a signing worker."""

import datetime
import decimal
import hashlib
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from support.gearmand import total_jobs

from django_gearman import GearmanClient
from django_gearman.serializers import PayloadCodec, encode_failure

DOC = (Path(__file__).resolve().parents[2] / "docs" / "wire-format.md").read_text()
UTC = datetime.timezone.utc
ADD = "shop.worker.add"

TABLE = [
    datetime.datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
    datetime.datetime(2024, 5, 1, 12, 30),
    datetime.date(2024, 5, 1),
    datetime.time(12, 30, 15, 250000),
    datetime.timedelta(days=1, hours=2, microseconds=5),
    decimal.Decimal("19.99"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xff raw",
    bytearray(b"\x00\xff raw"),
    memoryview(b"\x00\xff raw"),
    (1, "a"),
    {1: "one", (2, 3): "pair"},
    {"__gearman__": "x"},
]


@pytest.mark.parametrize("value", TABLE, ids=repr)
def test_the_type_table_shows_what_the_codec_sends(value):
    assert f"| `{PayloadCodec().encode_result(ADD, value).decode()}`" in DOC


@pytest.mark.parametrize(("args", "kwargs"), [([2, 3], {}), (["media/a.png"], {"width": 300})])
def test_the_request_examples_are_what_the_client_sends(args, kwargs):
    assert f"\n{PayloadCodec().encode_request(ADD, args, kwargs).decode()}\n" in DOC


def test_the_reply_examples_decode_to_plain_values():
    lines = DOC.split("## Reply")[1].split("```")[1].strip().splitlines()
    assert [PayloadCodec().decode_result(ADD, line.encode()) for line in lines] == [
        5, "report for 2024-05-01", {"sent": 1, "to": ["a@b.c"]}, None]


def test_the_signed_examples_are_what_the_codec_sends():
    codec = PayloadCodec(signing_key="secret")
    assert f"\n{codec.encode_request(ADD, [2, 3], {}).decode()}\n" in DOC
    assert f"\n{codec.encode_result(ADD, 5).decode()}\n" in DOC


def test_the_failure_report_example_has_the_reports_shape():
    try:
        raise ValueError("out of stock")
    except ValueError as exc:
        report = encode_failure(exc).decode()
    prefix = report.split("File")[0]
    assert prefix == (
        '{"error":{"type":"ValueError","message":"out of stock","traceback":"Traceback (most recent call last):\\n  '
    )
    (example,) = [line for line in DOC.splitlines() if line.startswith('{"error":')]
    assert example.startswith(prefix) and example.endswith('ValueError: out of stock\\n"}}')


def test_unique_true_is_the_blake2b_160_digest_of_the_data(gearman_settings):
    """A job with that id as its unique coalesces with one submitted with unique=True."""
    client = GearmanClient()
    client.submit_job("nobody-serves-this", data=b"same bytes", unique=True, background=True)
    digest = hashlib.blake2b(b"same bytes", digest_size=20).hexdigest()
    client.submit_job("nobody-serves-this", data=b"same bytes", unique=digest, background=True)
    assert total_jobs(gearman_settings, "nobody-serves-this") == 1


@pytest.fixture
def call_task_php(tmp_path) -> Path:
    """The PHP example of docs/wire-format.md, written to a file."""
    if shutil.which("php") is None:
        pytest.fail("php is not installed: apt-get install -y php-cli php-gearman", pytrace=False)
    (source,) = [block for block in re.findall(r"```php\n(.*?)```", DOC, re.DOTALL) if "call_task.php" in block]
    path = tmp_path / "call_task.php"
    path.write_text(source)
    return path


def test_the_php_signing_example_calls_a_signing_worker(gearman_settings, start_worker, call_task_php):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env={"GEARMAN_SIGNING_KEY": "secret"})

    def php(task, args, key):
        command = ["php", str(call_task_php), gearman_settings.host, str(gearman_settings.port), task, args, key]
        return subprocess.run(command, capture_output=True, text=True, timeout=60)

    called = php("shop.worker.add", "[2, 3]", "secret")
    assert (called.returncode, called.stdout, called.stderr) == (0, "5\n", "")
    echoed = php("shop.worker.echo", '["ünï", {"a": [1, null]}]', "secret")
    assert echoed.stdout == '{"args":{"__gearman__":"tuple","items":["ünï",{"a":[1,null]}]},"kwargs":{}}\n'
    failed = php("shop.worker.fail", '["out of stock"]', "secret")
    assert (failed.returncode, failed.stderr) == (1, "ValueError: out of stock\n")
    forged = php("shop.worker.add", "[2, 3]", "not the key")
    assert forged.returncode == 1
    assert forged.stderr == (
        "django_gearman.exceptions.PayloadError: payload signature does not match: "
        "it was tampered with, signed with another key or for another task\n"
    )
