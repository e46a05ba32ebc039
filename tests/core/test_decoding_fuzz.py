"""Fuzzing the payload decoders: whatever bytes arrive as a request, a reply or a failure
report, decoding returns a value or raises PayloadError, and nothing else (issue 10 found
OverflowError, AttributeError and RecursionError escaping). Signed variants are fuzzed too,
so the fuzzer reaches the decoders behind a signature check."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_gearman import PayloadError
from django_gearman.serializers import DIRECTIONS, REPLY, REQUEST, TAG, JSONSerializer, PayloadCodec, SigningKeys

KEY = "fuzzing key"
ADD = "shop.worker.add"
JOB = "0123456789abcdef0123456789abcdef"
UNSIGNED, SIGNED = PayloadCodec(), PayloadCodec(signing_key=KEY)
CODECS = [UNSIGNED, SIGNED, PayloadCodec("probe_serializers.HeaderedJSON"), PayloadCodec("pickle", KEY)]
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
numbers = st.integers() | st.floats() | st.integers(min_value=2**31) | st.floats(min_value=1e9)
#: Every tag, mostly, and things that are not tags.
known_tags = st.sampled_from(["dict", "tuple", "datetime", "date", "time", "timedelta", "decimal", "uuid", "bytes"])
tag_names = st.one_of(known_tags, known_tags, known_tags, st.just("unknown"), scalars, st.lists(scalars, max_size=2))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
#: What a tag's "value" or "items" holds: any shape, where the decoders expect strings, lists or pairs.
tag_contents = st.one_of(json_values, numbers, st.lists(numbers, max_size=4), st.lists(numbers | scalars, max_size=4),
                         st.lists(st.lists(json_values, max_size=3), max_size=3))
tagged = st.builds(lambda tag, field, contents: {TAG: tag, field: contents}, tag_names,
                   st.sampled_from(["value", "items"]), tag_contents)
documents = st.one_of(
    json_values,
    tagged,
    st.lists(tagged, max_size=3),
    st.builds(lambda value: {"args": [value], "kwargs": {"x": value}}, tagged | json_values),
).map(lambda value: json.dumps(value).encode())
#: JSON nested deeper than the interpreter recurses.
deep = st.builds(lambda depth, opener, closer: opener * depth + closer * depth, st.integers(1, 200_000),
                 st.sampled_from([b"[", b'{"a":[']), st.sampled_from([b"]", b"]}"]))
payloads = documents | deep | st.binary(max_size=200)


def decoded_or_payload_error(decode, *args) -> None:
    try:
        decode(*args)
    except PayloadError:
        pass


@FUZZ
@given(payloads)
def test_the_json_serializer_names_every_problem_itself(payload):
    """Not through PayloadCodec, whose last resort would hide an error the decoder should have named."""
    decoded_or_payload_error(JSONSerializer().loads, payload)


@FUZZ
@given(known_tags, st.sampled_from(["value", "items"]),
       st.one_of(st.lists(numbers, min_size=1, max_size=3), st.text(), tag_contents))
def test_each_tag_decoder_names_every_problem_itself(tag, field, contents):
    """Each tag with contents of any shape and size (a timedelta of 1e10 days, a uuid that is a number...)."""
    decoded_or_payload_error(JSONSerializer().loads, json.dumps({TAG: tag, field: contents}).encode())


@FUZZ
@given(payloads, st.sampled_from(CODECS))
def test_requests_and_replies_decode_or_raise_payload_error(payload, codec):
    decoded_or_payload_error(codec.decode_request, ADD, JOB, payload)
    decoded_or_payload_error(codec.decode_result, ADD, JOB, payload)


@FUZZ
@given(payloads)
def test_signed_requests_and_replies_decode_or_raise_payload_error(body):
    """Bodies that pass the signature check reach the JSON decoder (never pickle: signing is what guards it)."""
    keys = SigningKeys(KEY)
    decoded_or_payload_error(SIGNED.decode_request, ADD, JOB, keys.sign(REQUEST, ADD, JOB, body))
    decoded_or_payload_error(SIGNED.decode_result, ADD, JOB, keys.sign(REPLY, ADD, JOB, body))


@FUZZ
@given(payloads, st.sampled_from(DIRECTIONS), st.booleans())
def test_failure_reports_decode_or_raise_payload_error(body, direction, sign):
    report = SigningKeys(KEY).sign(direction, ADD, JOB, body) if sign else body
    decoded_or_payload_error(SIGNED.decode_failure, ADD, JOB, report)
    error = UNSIGNED.decode_failure(ADD, JOB, report)  # without a key, anything is a report or its text
    assert (error.type is None or isinstance(error.type, str)) and isinstance(error.message, str)
    assert isinstance(error.traceback, str)


@FUZZ
@given(st.sampled_from(DIRECTIONS), st.binary(max_size=100))
def test_only_the_right_direction_verifies(direction, body):
    payload = SigningKeys(KEY).sign(direction, ADD, JOB, body)
    for other in DIRECTIONS:
        try:
            assert SigningKeys(KEY).unsign(other, ADD, JOB, payload) == body and other == direction
        except PayloadError:
            assert other != direction
