"""How arguments and results travel: the JSON envelope, tagged types, pickle and
custom serializers, on their own and through real workers; every payload that
cannot be decoded is a PayloadError. Signing is in test_signing.py."""

import datetime
import decimal
import fractions
import json
import uuid

import pytest
from django.utils import translation
from django.utils.translation import gettext_lazy
from shop.gearman_workers.worker import add, echo
from support.apps import PROBE_ENV
from support.protocol import wait_registered

from django_gearman import GearmanJobFailed, PayloadError
from django_gearman.serializers import PayloadCodec

KEY = "a long random secret shared by clients and workers"
ADD = "shop.worker.add"  # the Gearman function name, which signatures cover
JOB = "0123456789abcdef0123456789abcdef"  # the job id, which signatures cover too

SPECIAL_VALUES = [
    datetime.datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=datetime.timezone.utc),
    datetime.datetime(2024, 5, 1, 12, 30),
    datetime.datetime(2024, 5, 1, 12, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))),
    datetime.date(2024, 5, 1),
    datetime.time(23, 59, 58, 999999),
    datetime.timedelta(days=-1, seconds=5, microseconds=7),
    decimal.Decimal("3.14159265358979323846264338327950288"),
    decimal.Decimal("-0.00"),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    b"\x00\xffbinary\n",
    bytearray(b"mutable"),
    (1, "two", (3.0, None)),
    (),
    {1: "int keys", (2, 3): "tuple keys"},
    {"__gearman__": "a key that looks like a tag"},
    "plain ünïcode",
    [1, 2.5, None, True, {"nested": [datetime.date(2000, 1, 1), ("t",)]}],
]


def same_types(left, right) -> bool:
    """Equal, and of the same type all the way down (bytearray arrives as bytes)."""
    if isinstance(left, bytearray):
        left = bytes(left)
    if type(left) is not type(right):
        return False
    if isinstance(left, (list, tuple)):
        return len(left) == len(right) and all(map(same_types, left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same_types(left[key], right[key]) for key in left)
    return left == right and str(left) == str(right)


def test_the_request_envelope_is_plain_json():
    assert PayloadCodec().encode_request(ADD, JOB, [2, 3], {"width": 300}) == b'{"args":[2,3],"kwargs":{"width":300}}'
    assert PayloadCodec().encode_request(ADD, JOB, (), {}) == b'{"args":[],"kwargs":{}}'


def test_lazy_translations_travel_as_their_text():
    with translation.override("de"):
        codec = PayloadCodec()
        assert codec.decode_result(ADD, JOB, codec.encode_result(ADD, JOB, gettext_lazy("Yes"))) == "Ja"


def test_plain_json_values_stay_plain():
    value = {"text": "ünï", "list": [1, 2.5, None, True, False], "object": {"a": {}}}
    plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert PayloadCodec().encode_result(ADD, JOB, value) == plain


@pytest.mark.parametrize("value", SPECIAL_VALUES, ids=repr)
def test_python_types_come_back_as_themselves(value):
    codec = PayloadCodec()
    assert same_types(value, codec.decode_result(ADD, JOB, codec.encode_result(ADD, JOB, value)))
    args, kwargs = codec.decode_request(ADD, JOB, codec.encode_request(ADD, JOB, [value], {"value": value}))
    assert same_types(value, args[0]) and same_types(value, kwargs["value"])


def test_a_request_from_another_language_needs_only_plain_json():
    assert PayloadCodec().decode_request(ADD, JOB, b'{"args":["x",{"y":[1]}]}') == (["x", {"y": [1]}], {})
    assert PayloadCodec().decode_request(ADD, JOB, b'{"kwargs":{"to":"a@b.c"}}') == ([], {"to": "a@b.c"})


@pytest.mark.parametrize(("payload", "value"), [
    # The tag spelled with \u escapes is still a tag, and one inside a string is only text.
    (b'{"\\u005f_gearman__":"tuple","items":[1,"\\u0032"]}', (1, "2")),
    (b'{"__gearman_\\u005f":"date","value":"2000-01-02"}', datetime.date(2000, 1, 2)),
    (b'{"text":"__gearman__","n":[1.5,{"\\u00e9":null}]}', {"text": "__gearman__", "n": [1.5, {"\u00e9": None}]}),
    (b'\xef\xbb\xbf{"a":[1]}', {"a": [1]}),  # a UTF-8 byte order mark, which json.loads skips in bytes
    ('{"a":"\u00e9"}'.encode("utf-16"), {"a": "\u00e9"}),  # and UTF-16, which it detects
    (bytearray(b'{"__gearman__":"bytes","value":"eA=="}'), b"x"),
    (b' \n{"a":[1]}\t', {"a": [1]}),  # whitespace around the document
    (b"3", 3),
    (b'"[not an array]"', "[not an array]"),
])
def test_replies_decode_as_json_loads_with_the_tags_would(payload, value):
    assert same_types(value, PayloadCodec().decode_result(ADD, JOB, payload))


class Text(str):
    pass


class Number(int):
    pass


def test_subclasses_of_plain_types_travel_as_json_sends_them():
    codec = PayloadCodec()
    value = {"text": Text("t"), "n": [Number(7), True, 1.5], "keys": {Text("k"): Number(1)}}
    assert codec.encode_result(ADD, JOB, value) == b'{"text":"t","n":[7,true,1.5],"keys":{"k":1}}'


@pytest.mark.parametrize(("value", "message"), [
    ({1, 2}, r"cannot send a builtins\.set .* set GEARMAN_SERIALIZER"),
    (fractions.Fraction(1, 3), r"cannot send a fractions\.Fraction"),
    (float("nan"), r"cannot send the float nan with the JSON serializer: JSON has no NaN or infinity"),
    ([-float("inf")], r"cannot send the float -inf with the JSON serializer"),
])
def test_values_json_cannot_carry_are_refused_naming_the_type(value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        PayloadCodec().encode_request(ADD, JOB, [value], {})


@pytest.mark.parametrize(("payload", "message"), [
    (b"\xff\xfe", "payload is not valid JSON"),
    (b"not json", "payload is not valid JSON"),
    (b"[1, 2]", r'request must be \{"args": \[...\], "kwargs": \{...\}\}, got \[1, 2\]'),
    (b'{"args": [], "extra": 1}', "request must be"),
    (b'{"args": {"a": 1}}', '"args" must be a list and "kwargs" an object'),
    (b'{"args": [{"__gearman__": "complex", "value": 1}]}', "unknown __gearman__ tag 'complex'"),
    (b'{"args": [{"__gearman__": "date", "value": "yesterday"}]}', "malformed date value"),
    (b'{"args": [{"__gearman__": "bytes", "value": "***"}]}', "malformed bytes value"),
    (b'{"kwargs": {"__gearman__": "dict", "items": [[1, 2]]}}', '"kwargs" must have string keys'),
])
def test_malformed_requests_are_payload_errors(payload, message):
    with pytest.raises(PayloadError, match=message):
        PayloadCodec().decode_request(ADD, JOB, payload)


# Issue 10's reproductions: each escaped as another exception type (named in the comment).
@pytest.mark.parametrize(("payload", "message"), [
    (b'{"__gearman__":"timedelta","value":[1e10,0,0]}',  # OverflowError
     r"payload cannot be decoded: malformed timedelta value .*: Python int too large"),
    (b'{"__gearman__":"uuid","value":5}',  # AttributeError
     r'payload cannot be decoded: malformed uuid value .*: "value" must be a string, not int'),
    (b"[" * 100_000 + b"]" * 100_000,  # RecursionError
     "payload is not valid JSON: it is nested too deeply"),
    (b'{"__gearman__":["a list"]}',  # TypeError (unhashable)
     r"payload cannot be decoded: unknown __gearman__ tag \['a list'\]"),
    (b'{"__gearman__":"dict","items":[[[1],2]]}', r"malformed dict value .*: unhashable type: 'list'"),
    (b'{"__gearman__":"tuple","items":"abc"}', r'malformed tuple value .*: "items" must be a list, not str'),
    (b'{"__gearman__":"decimal","value":"1e999999999999999999999"}', "malformed decimal value"),
    (b'{"__gearman__":"datetime","value":"2024-13-01"}', "malformed datetime value"),
    (b'{"__gearman__":"bytes","value":"\xc3\xa9"}', "malformed bytes value"),
    (b"1" * 5000, "payload is not valid JSON: Exceeds the limit"),  # int digits limit (ValueError)
    (b'{"a": 1} {"b": 2}', r"payload is not valid JSON: Extra data: line 1 column 10 \(char 9\)"),
    (b'[1, 2', r"payload is not valid JSON: Expecting ',' delimiter: line 1 column 6 \(char 5\)"),
])
def test_every_malformed_reply_is_a_payload_error_naming_the_problem(payload, message):
    with pytest.raises(PayloadError, match=message):
        PayloadCodec().decode_result(ADD, JOB, payload)


def test_a_custom_serializers_own_error_is_a_payload_error_naming_it():
    with pytest.raises(PayloadError, match=r"reply cannot be loaded by the 'probe_serializers.HeaderedJSON' "
                                           r"serializer: ValueError: not a probe-v1 payload"):
        PayloadCodec("probe_serializers.HeaderedJSON").decode_result(ADD, JOB, b"[2]")


@pytest.mark.parametrize("name", ["pickle", "django_gearman.serializers.PickleSerializer"])
def test_pickle_refuses_to_run_without_a_signing_key(name):
    """However it is named: a dotted path to the pickle serializer is no way around the key."""
    with pytest.raises(PayloadError, match="serializer refuses to run without GEARMAN_SIGNING_KEY"):
        PayloadCodec(name)


def test_pickle_carries_any_picklable_value():
    codec = PayloadCodec("pickle", KEY)
    value = {fractions.Fraction(1, 3), frozenset({"x"})}
    assert codec.decode_result(ADD, JOB, codec.encode_result(ADD, JOB, value)) == value


def test_a_serializer_class_by_dotted_path():
    codec = PayloadCodec("probe_serializers.HeaderedJSON")
    assert codec.encode_request(ADD, JOB, [1], {}) == b'probe-v1 {"args": [1], "kwargs": {}}'
    assert codec.decode_result(ADD, JOB, b"probe-v1 [2]") == [2]


# -- through real workers -------------------------------------------------------


def test_types_survive_the_trip_through_a_worker(shop_worker):
    result = echo.submit(*SPECIAL_VALUES, when=SPECIAL_VALUES[0], amounts=(decimal.Decimal("1.10"),))
    assert same_types(tuple(SPECIAL_VALUES), result["args"])
    assert same_types({"when": SPECIAL_VALUES[0], "amounts": (decimal.Decimal("1.10"),)}, result["kwargs"])


def test_a_value_json_cannot_carry_fails_before_anything_is_sent(shop_worker):
    with pytest.raises(TypeError, match="cannot send a builtins.set"):
        echo.submit({1, 2})


#: What a worker that is not a Django one answers to job n: two replies that decode, then issue 10's three.
REPLIES = [b"5", b'{"__gearman__":"date","value":"2024-05-01"}', b'{"__gearman__":"timedelta","value":[1e10,0,0]}',
           b'{"__gearman__":"uuid","value":5}', b"[" * 100_000 + b"]" * 100_000]


def test_a_batch_keeps_the_good_results_when_some_replies_are_bad(gearman_settings, run_worker, gearman):
    run_worker([gearman_settings], {"replier": lambda job: REPLIES[json.loads(job.data)["args"][0]]})
    wait_registered(gearman_settings, "replier")
    results = gearman.submit_multiple_jobs("replier", [[n] for n in range(len(REPLIES))], return_exceptions=True)
    assert results[:2] == [5, datetime.date(2024, 5, 1)]
    assert [type(result) for result in results[2:]] == [PayloadError] * 3
    assert [str(result).split(":")[0] for result in results[2:]] == [
        "payload cannot be decoded", "payload cannot be decoded", "payload is not valid JSON"]

    with pytest.raises(PayloadError, match="malformed timedelta value") as raised:  # without return_exceptions
        gearman.submit_multiple_jobs("replier", [[n] for n in range(len(REPLIES))])
    assert raised.value.results[:2] == [5, datetime.date(2024, 5, 1)]


def test_pickle_through_a_worker(gearman_settings, start_worker, settings):
    pickling = {"GEARMAN_SERIALIZER": "pickle", "GEARMAN_SIGNING_KEY": KEY}
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env=pickling)
    settings.GEARMAN_SERIALIZER, settings.GEARMAN_SIGNING_KEY = "pickle", KEY
    assert echo.submit({fractions.Fraction(1, 3)}) == {"args": ({fractions.Fraction(1, 3)},), "kwargs": {}}


def test_a_custom_serializer_through_a_worker(gearman_settings, start_worker, settings):
    custom = {**PROBE_ENV, "GEARMAN_SERIALIZER": "probe_serializers.HeaderedJSON"}
    start_worker("-a", "shop", "-n", "worker", servers=[gearman_settings], env=custom)
    with pytest.raises(GearmanJobFailed, match="PayloadError: request cannot be loaded .* not a probe-v1 payload"):
        add.submit(2, 3)  # this side still speaks the built-in JSON
    settings.GEARMAN_SERIALIZER = "probe_serializers.HeaderedJSON"
    assert add.submit(2, 3) == 5
