"""docs/wire-format.md says what the code does: its examples are checked against
the codec byte for byte, and its PHP example is run against a signing worker."""

import datetime
import decimal
import hashlib
import hmac
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from support.gearmand import total_jobs
from support.protocol import wait_registered

from django_gearman import GearmanClient, PayloadError
from django_gearman.serializers import REPLY, PayloadCodec, SigningKeys

DOC = (Path(__file__).resolve().parents[2] / "docs" / "wire-format.md").read_text()
UTC = datetime.timezone.utc
ADD = "shop.worker.add"
JOB = "0a1b2c3d4e5f40718293a4b5c6d7e8f9"  # the job id of the signed examples

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
    assert f"| `{PayloadCodec().encode_result(ADD, JOB, value).decode()}`" in DOC


@pytest.mark.parametrize(("args", "kwargs"), [([2, 3], {}), (["media/a.png"], {"width": 300})])
def test_the_request_examples_are_what_the_client_sends(args, kwargs):
    assert f"\n{PayloadCodec().encode_request(ADD, JOB, args, kwargs).decode()}\n" in DOC


def test_the_reply_examples_decode_to_plain_values():
    lines = DOC.split("## Reply")[1].split("```")[1].strip().splitlines()
    assert [PayloadCodec().decode_result(ADD, JOB, line.encode()) for line in lines] == [
        5, "report for 2024-05-01", {"sent": 1, "to": ["a@b.c"]}, None]


def signing_block() -> list[str]:
    return DOC.split("## Signing")[1].split("```")[3].strip().splitlines()


def test_the_signed_examples_are_what_the_codec_sends():
    codec = PayloadCodec(signing_key="secret")
    untraced = PayloadCodec(signing_key="secret", failure_tracebacks=False)
    assert signing_block() == [
        codec.encode_request(ADD, JOB, [2, 3], {}).decode(),
        codec.encode_result(ADD, JOB, 5).decode(),
        untraced.encode_failure("shop.worker.fail", JOB, ValueError("out of stock")).decode(),
    ]


def test_the_signed_examples_are_the_hmac_the_doc_describes():
    for line, direction, function in zip(signing_block(), ("request", "reply", "failure"),
                                         (ADD, ADD, "shop.worker.fail"), strict=True):
        version, signature, body = line.encode().split(b":", 2)
        message = b"\0".join((b"v2", direction.encode(), function.encode(), JOB.encode(), body))
        assert (version, signature) == (b"v2", hmac.new(b"secret", message, hashlib.sha256).hexdigest().encode())


def rejection(payload: bytes, codec=None) -> str:
    with pytest.raises(PayloadError) as rejected:
        (codec or PayloadCodec(signing_key="secret")).decode_request(ADD, JOB, payload)
    return str(rejected.value)


def test_the_rejection_table_has_the_codecs_messages():
    request = signing_block()[0].encode()
    body = request.split(b":", 2)[2]
    v1 = hmac.new(b"secret", ADD.encode() + b"\0" + body, hashlib.sha256).hexdigest().encode() + b":" + body
    messages = [
        rejection(body),
        rejection(request.replace(b"[2,3]", b"[2,4]")),
        rejection(SigningKeys("secret").sign(REPLY, ADD, JOB, body)),
        rejection(v1),
        rejection(request, PayloadCodec()),
    ]
    rows = [line.split(" | `")[1].removesuffix("` |") for line in DOC.splitlines() if line.startswith("| ") and
            " | `request " in line]
    assert rows == messages


def test_the_failure_report_without_traceback_is_as_shown():
    report = PayloadCodec(failure_tracebacks=False).encode_failure("shop.worker.fail", JOB, ValueError("out of stock"))
    assert f"`{report.decode()}`" in DOC


def test_unique_true_is_the_blake2b_160_digest_of_the_data(gearman_settings):
    """A job with that id as its unique coalesces with one submitted with unique=True."""
    client = GearmanClient()
    client.submit_job("nobody-serves-this", data=b"same bytes", unique=True, background=True)
    digest = hashlib.blake2b(b"same bytes", digest_size=20).hexdigest()
    client.submit_job("nobody-serves-this", data=b"same bytes", unique=digest, background=True)
    assert total_jobs(gearman_settings, "nobody-serves-this") == 1


def test_signed_unique_true_is_the_digest_of_the_body_before_signing(gearman_settings, settings):
    settings.GEARMAN_SIGNING_KEY = "secret"
    client = GearmanClient()
    client.submit_job("nobody-serves-this", args=[2, 3], unique=True, background=True)
    digest = hashlib.blake2b(b'{"args":[2,3],"kwargs":{}}', digest_size=20).hexdigest()
    client.submit_job("nobody-serves-this", args=[2, 3], unique=digest, background=True)
    assert total_jobs(gearman_settings, "nobody-serves-this") == 1


def test_a_job_without_unique_gets_a_uuid4_hex_id(gearman_settings, run_worker):
    ids = []
    run_worker([gearman_settings], {"note-id": lambda job: ids.append(job.unique) or b"null"})
    wait_registered(gearman_settings, "note-id")
    GearmanClient().submit_multiple_jobs("note-id", [[], []])
    assert len(set(ids)) == 2 and all(uuid.UUID(hex=job_id.decode()).version == 4 for job_id in ids)
    assert all(re.fullmatch(rb"[0-9a-f]{32}", job_id) for job_id in ids)


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
    assert forged.stderr.startswith("the job failed with a report not signed with our key: v2:")
    assert ('"message":"request signature does not match: it was tampered with, or signed with another key, '
            'for another task or for another job"') in forged.stderr
