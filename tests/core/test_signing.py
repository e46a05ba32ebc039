"""GEARMAN_SIGNING_KEY: what a signature covers (direction, function, job id, body), what is
rejected and how it is named, key fallbacks for rotation, signed failure reports, and a key
that never shows in a repr, an error page, a log line or a failure report; on their own and
with real gearmand, real workers and rogue workers (anyone can register with gearmand)."""

import datetime
import hashlib
import hmac
import json

import pytest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter
from shop.gearman_workers.worker import add, echo, fail, whoami
from support.protocol import wait_registered

from django_gearman import GearmanClient, GearmanJobFailed, PayloadError, UnverifiedFailureReport, conf
from django_gearman.protocol import Client
from django_gearman.serializers import FAILURE, REPLY, REQUEST, PayloadCodec, SigningKeys

KEY = "a long random secret shared by clients and workers"
OLD_KEY = "the key being retired"
ADD = "shop.worker.add"
JOB = "0123456789abcdef0123456789abcdef"
OTHER_JOB = "fedcba9876543210fedcba9876543210"
BODY = b'{"args":[2,3],"kwargs":{}}'
SIGNER = PayloadCodec(signing_key=KEY)


def signed(direction=REQUEST, function=ADD, job_id=JOB, body=BODY, key=KEY) -> bytes:
    return SigningKeys(key).sign(direction, function, job_id, body)


def test_a_signature_is_v2_and_the_hex_hmac_of_version_direction_function_job_id_and_body():
    message = b"v2\0request\0shop.worker.add\0" + JOB.encode() + b"\0" + BODY
    signature = hmac.new(KEY.encode(), message, hashlib.sha256).hexdigest().encode()
    assert signed() == b"v2:" + signature + b":" + BODY
    assert SIGNER.encode_request(ADD, JOB, [2, 3], {}) == signed()
    assert SIGNER.decode_request(ADD, JOB, signed()) == ([2, 3], {})
    assert SIGNER.encode_result(ADD, JOB, 5) == signed(REPLY, body=b"5")
    assert SIGNER.decode_result(ADD, JOB, signed(REPLY, body=b"5")) == 5


V1_SIGNED = hmac.new(KEY.encode(), b"shop.worker.add\0" + BODY, hashlib.sha256).hexdigest().encode() + b":" + BODY


@pytest.mark.parametrize(("payload", "message"), [
    (BODY, "request is not signed, but GEARMAN_SIGNING_KEY requires signed payloads"),
    (signed().replace(b"[2,3]", b"[2,4]"), "request signature does not match: it was tampered with"),
    (signed(key="another key"), "request signature does not match: .* signed with another key"),
    (signed(function="shop.worker.fail"), "request signature does not match: .* for another task"),
    (signed(job_id=OTHER_JOB), "request signature does not match: .* or for another job"),
    (signed(REPLY), "request carries the signature of a reply: a captured reply was sent back as a request"),
    (signed(FAILURE), "request carries the signature of a failure report"),
    (b"v2:" + b"0" * 64 + b":" + BODY, "request signature does not match"),
    (V1_SIGNED, r"request is signed in the old v1 format \(without direction and job id\); the sender must be "
                r"upgraded to sign v2 \(docs/wire-format.md\)"),
])
def test_a_request_not_signed_for_this_task_job_and_direction_is_rejected_saying_why(payload, message):
    with pytest.raises(PayloadError, match=message):
        SIGNER.decode_request(ADD, JOB, payload)


@pytest.mark.parametrize(("payload", "message"), [
    (b"5", "reply is not signed"),
    (signed(REPLY, job_id=OTHER_JOB, body=b"5"), "reply signature does not match"),  # another job's reply
    (signed(REQUEST, body=b"5"), "reply carries the signature of a request: a captured request was sent back"),
])
def test_a_reply_not_signed_for_this_job_is_rejected(payload, message):
    with pytest.raises(PayloadError, match=message):
        SIGNER.decode_result(ADD, JOB, payload)


def test_fallback_keys_verify_and_only_the_current_key_signs():
    rotating = PayloadCodec(signing_key=KEY, signing_key_fallbacks=[OLD_KEY])
    assert rotating.decode_request(ADD, JOB, signed(key=OLD_KEY)) == ([2, 3], {})
    assert rotating.decode_request(ADD, JOB, signed(key=KEY)) == ([2, 3], {})
    assert rotating.encode_request(ADD, JOB, [2, 3], {}) == signed(key=KEY)
    with pytest.raises(PayloadError, match="signed with another key"):
        PayloadCodec(signing_key=KEY).decode_request(ADD, JOB, signed(key=OLD_KEY))


def error_in(function):
    try:
        function()
    except Exception as exc:
        return exc
    raise AssertionError(f"{function} did not raise")


def test_failure_reports_are_signed_for_their_job_and_verified():
    report = SIGNER.encode_failure(ADD, JOB, ValueError("out of stock"))
    assert report.startswith(b"v2:") and SigningKeys(KEY).unsign(FAILURE, ADD, JOB, report).startswith(
        b'{"error":{"type":"ValueError","message":"out of stock","traceback":"')
    assert SIGNER.decode_failure(ADD, JOB, report)[:2] == ("ValueError", "out of stock")
    with pytest.raises(PayloadError, match="failure report signature does not match"):
        SIGNER.decode_failure(ADD, OTHER_JOB, report)  # another job's report, replayed
    forged = b'{"error":{"type":"billing.CardDeclined","message":"declined"}}'
    with pytest.raises(PayloadError, match=r"failure report is not signed, but GEARMAN_SIGNING_KEY requires "
                                           r"signed payloads; unverified, it says 'billing.CardDeclined: declined'$"):
        SIGNER.decode_failure(ADD, JOB, forged)
    assert PayloadCodec().decode_failure(ADD, JOB, report)[:2] == ("ValueError", "out of stock")  # read, unverified
    assert PayloadCodec().decode_failure(ADD, JOB, b"disk full") == (None, "disk full", "")


def test_without_failure_tracebacks_a_report_has_type_and_message_only():
    report = PayloadCodec(failure_tracebacks=False).encode_failure(ADD, JOB, error_in(lambda: fail("x")))
    assert json.loads(report) == {"error": {"type": "ValueError", "message": "x"}}
    assert PayloadCodec().decode_failure(ADD, JOB, report) == ("ValueError", "x", "")


# -- the key is never shown ---------------------------------------------------------


def test_no_repr_shows_a_key(settings):
    settings.GEARMAN_SIGNING_KEY, settings.GEARMAN_SIGNING_KEY_FALLBACKS = KEY, [OLD_KEY]
    codec = PayloadCodec.from_settings(conf.get())
    for shown in (repr(conf.get()), repr(codec), repr(codec.signing_keys), repr(GearmanClient()._setup())):
        assert KEY not in shown and OLD_KEY not in shown
    assert repr(codec.signing_keys) == "<SigningKeys: a key and 1 fallback(s)>"


def test_djangos_error_page_for_a_rejected_payload_shows_no_key(settings):
    """The technical 500 page lists every frame's local variables, and the settings."""
    settings.DEBUG, settings.GEARMAN_SIGNING_KEY, settings.GEARMAN_SIGNING_KEY_FALLBACKS = True, KEY, [OLD_KEY]
    codec = PayloadCodec.from_settings(conf.get())
    for rejected in (lambda: codec.decode_request(ADD, JOB, signed(key="x")),
                     lambda: codec.decode_result(ADD, JOB, b"5"), lambda: codec.decode_failure(ADD, JOB, b"forged")):
        error = error_in(rejected)
        page = ExceptionReporter(None, type(error), error, error.__traceback__).get_traceback_html()
        assert "SigningKeys" in page  # the frames' locals are on the page...
        assert KEY not in page and OLD_KEY not in page  # ...and hold no key
    safe = SafeExceptionReporterFilter().get_safe_settings()
    assert KEY not in str(safe) and OLD_KEY not in str(safe)


# -- through real gearmand and workers -----------------------------------------------


@pytest.fixture
def signing_worker(gearman_settings, start_worker, settings):
    """A shop worker with KEY, and this test's settings with KEY too."""
    worker = start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env={"GEARMAN_SIGNING_KEY": KEY})
    settings.GEARMAN_SIGNING_KEY = KEY
    return worker


@pytest.fixture
def raw_client(gearman_settings):
    """A protocol client: sends the bytes it is given and returns the bytes it gets, as an eavesdropper could."""
    client = Client([gearman_settings.address])
    yield client
    client.close()


def test_signed_jobs_round_trip(signing_worker):
    assert add.submit(2, 3) == 5
    assert echo.submit(datetime.date(2024, 5, 1)) == {"args": (datetime.date(2024, 5, 1),), "kwargs": {}}
    # The id is derived from the unsigned arguments, then the request is signed with it.
    assert GearmanClient().submit_job(add, args=[2, 3], unique=True) == 5


def test_a_signing_worker_rejects_unsigned_tampered_and_replayed_jobs_and_goes_on(signing_worker, raw_client):
    def rejection(function, payload, job_id=JOB) -> str:
        with pytest.raises(GearmanJobFailed) as failed:
            raw_client.submit_job(function, payload, unique=job_id)
        report = json.loads(SigningKeys(KEY).unsign(FAILURE, function, job_id, failed.value.warnings[-1]))
        assert report["error"]["type"] == "django_gearman.exceptions.PayloadError"
        return report["error"]["message"]

    assert rejection(ADD, BODY) == "request is not signed, but GEARMAN_SIGNING_KEY requires signed payloads"
    assert rejection(ADD, signed().replace(b"[2,3]", b"[2,4]")).startswith("request signature does not match")
    assert rejection(ADD, signed(key="the wrong key")).startswith("request signature does not match")
    assert rejection("shop.worker.echo", signed()).startswith("request signature does not match")  # another task
    reply = raw_client.submit_job(ADD, signed(), unique=JOB)  # a real reply, captured
    assert rejection(ADD, reply) == ("request carries the signature of a reply: "
                                     "a captured reply was sent back as a request")
    assert rejection(ADD, signed(), job_id=OTHER_JOB).startswith("request signature does not match")  # replayed
    assert rejection(ADD, V1_SIGNED).startswith("request is signed in the old v1 format")
    assert "PayloadError: request signature does not match" in signing_worker.output
    assert KEY not in signing_worker.output
    assert whoami.submit() == signing_worker.pid  # the same process, still serving


def test_a_client_without_the_key_reads_why_its_job_was_refused(gearman_settings, start_worker):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env={"GEARMAN_SIGNING_KEY": KEY})
    with pytest.raises(GearmanJobFailed) as unsigned:
        GearmanClient().submit_job(add, args=[2, 3])
    assert unsigned.value.exception_type == "django_gearman.exceptions.PayloadError"
    assert unsigned.value.message == "request is not signed, but GEARMAN_SIGNING_KEY requires signed payloads"


def test_a_worker_without_the_key_says_the_job_is_signed(shop_worker, settings):
    """Its report is not signed either, so this client does not believe it, but quotes it."""
    settings.GEARMAN_SIGNING_KEY = KEY
    with pytest.raises(UnverifiedFailureReport, match="failure report is not signed, .* unverified, it says "
                       "'django_gearman.exceptions.PayloadError: request is signed, but GEARMAN_SIGNING_KEY is not "
                       "set on this side'"):
        add.submit(2, 3)


def test_a_task_failure_is_reported_signed_and_verified(signing_worker):
    with pytest.raises(GearmanJobFailed) as failed:
        fail.submit("out of stock")
    assert type(failed.value) is GearmanJobFailed
    assert (failed.value.exception_type, failed.value.message) == ("ValueError", "out of stock")
    assert "raise ValueError(message)" in failed.value.traceback
    assert failed.value.warnings[-1].startswith(b"v2:")


def test_raw_tasks_are_never_signed(signing_worker):
    assert GearmanClient().submit_job("shop.worker.reverse", data=b"raw bytes") == b"setyb war"


def test_a_client_with_a_key_rejects_an_unsigned_reply(gearman_settings, settings, gearman_cli_worker):
    gearman_cli_worker("shop.worker.add", "echo", "5")  # a worker that knows nothing of signing
    settings.GEARMAN_SIGNING_KEY = KEY
    with pytest.raises(PayloadError, match="reply is not signed"):
        add.submit(2, 3)


@pytest.fixture
def rogue_worker(gearman_settings, run_worker, settings):
    """`rogue_worker(callback)` serves shop.worker.add with `callback(job)`; no real worker is there."""
    settings.GEARMAN_SIGNING_KEY = KEY

    def serve(callback):
        run_worker([gearman_settings], {ADD: callback})
        wait_registered(gearman_settings, ADD)

    return serve


def test_a_rogue_worker_replaying_a_captured_reply_is_caught(rogue_worker):
    captured = signed(REPLY, job_id=OTHER_JOB, body=b'{"approved":true}')  # an earlier job's genuine reply
    rogue_worker(lambda job: captured)
    with pytest.raises(PayloadError, match="reply signature does not match"):
        add.submit(2, 3)


def test_a_rogue_worker_echoing_the_signed_request_as_its_reply_is_caught(rogue_worker):
    rogue_worker(lambda job: job.data)
    with pytest.raises(PayloadError, match="reply carries the signature of a request"):
        add.submit(2, 3)


def test_a_forged_failure_report_is_reported_as_unverified(rogue_worker):
    forged = b'{"error":{"type":"billing.CardDeclined","message":"declined","traceback":""}}'

    def fail_it(job):
        job.send_fail(forged)

    rogue_worker(fail_it)
    results = GearmanClient().submit_multiple_jobs(ADD, [[1, 2], [3, 4]], return_exceptions=True)
    for failed in results:
        assert isinstance(failed, UnverifiedFailureReport)
        assert isinstance(failed, GearmanJobFailed) and isinstance(failed, PayloadError)
        assert failed.exception_type is None and failed.traceback == ""
        assert failed.message == ("failure report is not signed, but GEARMAN_SIGNING_KEY requires signed payloads; "
                                  "unverified, it says 'billing.CardDeclined: declined'")
        assert failed.warnings == (forged,)


def test_a_replayed_genuine_failure_report_of_another_job_is_unverified(rogue_worker):
    captured = SIGNER.encode_failure(ADD, OTHER_JOB, ValueError("declined"))
    rogue_worker(lambda job: job.send_fail(captured))
    with pytest.raises(UnverifiedFailureReport, match="failure report signature does not match"):
        add.submit(2, 3)


def test_rotating_keys_with_fallbacks(gearman_settings, start_worker, settings):
    """README's rotation, seen from one worker already on step 2 (signs with KEY, accepts OLD_KEY)."""
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings],
                 env={"GEARMAN_SIGNING_KEY": KEY, "GEARMAN_SIGNING_KEY_FALLBACKS": OLD_KEY})
    settings.GEARMAN_SIGNING_KEY, settings.GEARMAN_SIGNING_KEY_FALLBACKS = OLD_KEY, [KEY]  # a client on step 1
    assert add.submit(2, 3) == 5
    settings.GEARMAN_SIGNING_KEY, settings.GEARMAN_SIGNING_KEY_FALLBACKS = KEY, []  # a client on step 3
    assert add.submit(2, 3) == 5
    settings.GEARMAN_SIGNING_KEY = OLD_KEY  # a client that skipped step 1 cannot read the new key's replies
    with pytest.raises(PayloadError, match="reply signature does not match"):
        add.submit(2, 3)


def test_without_failure_tracebacks_other_clients_get_type_and_message(gearman_settings, start_worker, raw_client):
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env={"GEARMAN_FAILURE_TRACEBACKS": "0"})
    with pytest.raises(GearmanJobFailed) as failed:
        raw_client.submit_job("shop.worker.fail", PayloadCodec().encode_request("shop.worker.fail", JOB, ["x"], {}),
                              unique=JOB)
    assert json.loads(failed.value.warnings[-1]) == {"error": {"type": "ValueError", "message": "x"}}

