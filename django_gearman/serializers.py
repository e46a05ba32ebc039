"""How task arguments, results and failures travel as bytes.

The default JSON format keeps plain JSON plain, so other languages can call
tasks, and tags the Python types JSON lacks so they come back as themselves.
See docs/wire-format.md for the exact format.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import hashlib
import hmac
import json
import math
import pickle
import re
import traceback
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, NamedTuple

from django.utils.functional import Promise
from django.utils.module_loading import import_string

from . import conf
from .exceptions import PayloadError
from .protocol.errors import exception_message

TAG = "__gearman__"


class JSONSerializer:
    """JSON with tagged datetime, date, time, timedelta, Decimal, UUID, bytes, tuples."""

    def dumps(self, value: Any) -> bytes:
        return _compact_json(_tag(value))

    def loads(self, data: bytes) -> Any:
        try:
            if not isinstance(data, (bytes, bytearray)):
                return json.loads(data, object_hook=_untag)
            # What json.loads does with bytes, minus a decoder made per call; and a payload that
            # cannot hold a tag (neither the tag's text nor a \u escape that could spell it) is
            # decoded without calling _untag for every object in it.
            # An object or array whose second byte is not NUL is UTF-8 by json.detect_encoding's rules.
            plain_start = data[:1] in _OPENERS and data[1:2] != b"\0"
            text = data.decode("utf-8" if plain_start else json.detect_encoding(data), "surrogatepass")
            decoder = _TAGGED_DECODER if TAG in text or "\\u" in text else _PLAIN_DECODER
            try:
                value, end = decoder.raw_decode(text)
            except json.JSONDecodeError:
                end = -1
            # Whitespace around the document, or anything after it: as json.loads takes it, or the error it raises.
            return value if end == len(text) else decoder.decode(text)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise PayloadError(f"payload is not valid JSON: {exc}") from None
        except RecursionError:
            raise PayloadError("payload is not valid JSON: it is nested too deeply") from None


class PickleSerializer:
    """Any picklable value. Only ever enabled together with GEARMAN_SIGNING_KEY."""

    #: Loading can run arbitrary code, so payloads must be signed. A custom
    #: serializer with the same danger sets this too.
    requires_signing = True

    def dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        try:
            return pickle.loads(data)  # noqa: S301 - callers verified the signature first
        except Exception as exc:
            raise PayloadError(f"payload is not a valid pickle: {exc}") from None


#: Types `_tag` returns as they are, checked by exact type first (subclasses take the long way).
_PLAIN_TYPES = frozenset((str, int, bool, type(None)))


def _tag(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN_TYPES or (kind is float and math.isfinite(value)):
        return value
    if kind is list:
        return [item if type(item) in _PLAIN_TYPES else _tag(item) for item in value]
    if kind is dict and TAG not in value and all(type(key) is str for key in value):
        return {key: item if type(item) in _PLAIN_TYPES else _tag(item) for key, item in value.items()}
    return _tag_other(value)


def _tag_other(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"cannot send the float {value!r} with the JSON serializer: JSON has no NaN or infinity")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_tag(item) for item in value]
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and TAG not in value:
            return {key: _tag(item) for key, item in value.items()}
        return {TAG: "dict", "items": [[_tag(key), _tag(item)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [_tag(item) for item in value]}
    if isinstance(value, datetime.datetime):
        return {TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, datetime.date):
        return {TAG: "date", "value": value.isoformat()}
    if isinstance(value, datetime.time):
        return {TAG: "time", "value": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {TAG: "timedelta", "value": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, decimal.Decimal):
        return {TAG: "decimal", "value": str(value)}
    if isinstance(value, uuid.UUID):
        return {TAG: "uuid", "value": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {TAG: "bytes", "value": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Promise):  # gettext_lazy and friends: the text, in the active language
        return str(value)
    raise TypeError(
        f"cannot send a {type(value).__module__}.{type(value).__qualname__} as a task argument or result "
        "with the JSON serializer; convert it to a JSON type, or set GEARMAN_SERIALIZER"
    )


def _items(tagged: dict) -> list:
    items = tagged["items"]
    if not isinstance(items, list):
        raise TypeError(f'"items" must be a list, not {type(items).__name__}')
    return items


def _text(tagged: dict) -> str:
    value = tagged["value"]
    if not isinstance(value, str):
        raise TypeError(f'"value" must be a string, not {type(value).__name__}')
    return value


_DECODERS = {
    "dict": lambda tagged: {key: item for key, item in _items(tagged)},
    "tuple": lambda tagged: tuple(_items(tagged)),
    "datetime": lambda tagged: datetime.datetime.fromisoformat(_text(tagged)),
    "date": lambda tagged: datetime.date.fromisoformat(_text(tagged)),
    "time": lambda tagged: datetime.time.fromisoformat(_text(tagged)),
    "timedelta": lambda tagged: datetime.timedelta(*tagged["value"]),
    "decimal": lambda tagged: decimal.Decimal(_text(tagged)),
    "uuid": lambda tagged: uuid.UUID(_text(tagged)),
    "bytes": lambda tagged: base64.b64decode(_text(tagged), validate=True),
}


def _untag(obj: dict) -> Any:
    kind = obj.get(TAG)
    if kind is None:
        return obj
    decoder = _DECODERS.get(kind) if isinstance(kind, str) else None
    if decoder is None:
        raise PayloadError(f"payload cannot be decoded: unknown {TAG} tag {_preview(kind)}")
    try:
        return decoder(obj)
    # What the constructors raise for values out of range or of the wrong type:
    # a timedelta of 1e10 days overflows, uuid.UUID(5) is an AttributeError.
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise PayloadError(f"payload cannot be decoded: malformed {kind} value {_preview(obj)}: "
                           f"{exception_message(exc)}") from None


def to_json_value(value: Any) -> Any:
    """`value` as the JSON serializer's tagged JSON (lists, dicts, str, numbers), for storing it in
    a JSONField; TypeError or ValueError if it has no JSON form."""
    return _tag(value)


def from_json_value(value: Any) -> Any:
    """The inverse of `to_json_value`: tagged values come back as their types."""
    if isinstance(value, list):
        return [from_json_value(item) for item in value]
    if isinstance(value, dict):
        return _untag({key: from_json_value(item) for key, item in value.items()})
    return value


@lru_cache(maxsize=8)
def get_serializer(name: str):
    """'json', 'pickle', or the dotted path of a class with dumps(value) and loads(bytes)."""
    if name == "json":
        return JSONSerializer()
    if name == "pickle":
        return PickleSerializer()
    return import_string(name)()


# -- signing ---------------------------------------------------------------

#: The ways a payload travels. A signature says which one it was made for, so
#: a captured reply cannot be sent back as a request, nor a request as a reply.
REQUEST, REPLY, FAILURE = "request", "reply", "failure"
DIRECTIONS = (REQUEST, REPLY, FAILURE)
_NOUNS = {REQUEST: "request", REPLY: "reply", FAILURE: "failure report"}

SIGNATURE_VERSION = b"v2"
SIGNATURE_LENGTH = 64  # hex digits of an HMAC-SHA256
#: `v2:<signature>:` before the body; group 1 is empty for the old v1 form, `<signature>:` alone.
_SIGNED = re.compile(rb"(v2:)?([0-9a-f]{64}):")


class SigningKeys:
    """GEARMAN_SIGNING_KEY, which signs, and GEARMAN_SIGNING_KEY_FALLBACKS, which verify too.

    No key is in its repr, and no frame that raises holds a key: error pages and
    trackers that show local variables only ever see this object.
    """

    __slots__ = ("_macs",)

    def __init__(self, key: str | bytes, fallbacks: Iterable[str | bytes] = ()):
        # Per key, an HMAC for each direction that has read `v2 NUL direction NUL` already: signing or
        # verifying a payload copies one and feeds it the rest, without joining the body into a message.
        self._macs = tuple({direction: hmac.new(_utf8(each), _PREFIXES[direction], hashlib.sha256)
                            for direction in DIRECTIONS} for each in (key, *fallbacks))

    def __repr__(self) -> str:
        return f"<SigningKeys: a key and {len(self._macs) - 1} fallback(s)>"

    def sign(self, direction: str, function: str | bytes, job_id: str | bytes, body: bytes) -> bytes:
        """`v2:` + hex HMAC-SHA256, with the current key, of `v2 NUL direction NUL function NUL job_id NUL body`,
        then `:` and the body (docs/wire-format.md)."""
        return b"v2:" + _hex_mac(self._macs[0][direction], _fields(function, job_id), body) + b":" + body

    def unsign(self, direction: str, function: str | bytes, job_id: str | bytes, payload: bytes) -> bytes:
        """The body of a payload signed, with any of the keys, for this direction, function and job id;
        otherwise PayloadError saying what is wrong with it."""
        noun = _NOUNS[direction]
        signed = _SIGNED.match(payload)
        if signed is None:
            raise PayloadError(f"{noun} is not signed, but GEARMAN_SIGNING_KEY requires signed payloads")
        if not signed[1]:
            raise PayloadError(f"{noun} is signed in the old v1 format (without direction and job id); "
                               "the sender must be upgraded to sign v2 (docs/wire-format.md)")
        signature, body = signed[2], payload[signed.end():]
        fields = _fields(function, job_id)
        if self._accepts(signature, direction, fields, body):
            return body
        for other in DIRECTIONS:
            if other != direction and self._accepts(signature, other, fields, body):
                raise PayloadError(f"{noun} carries the signature of a {_NOUNS[other]}: "
                                   f"a captured {_NOUNS[other]} was sent back as a {noun}")
        raise PayloadError(f"{noun} signature does not match: it was tampered with, or signed with another key, "
                           "for another task or for another job")

    def _accepts(self, signature: bytes, direction: str, fields: bytes, body: bytes) -> bool:
        for macs in self._macs:
            if hmac.compare_digest(signature, _hex_mac(macs[direction], fields, body)):
                return True
        return False


#: What every signed message starts with, by direction.
_PREFIXES = {direction: b"\0".join((SIGNATURE_VERSION, direction.encode("ascii"), b"")) for direction in DIRECTIONS}


def _fields(function: str | bytes, job_id: str | bytes) -> bytes:
    # Function names and job ids are Gearman fields, which cannot hold a NUL, so the joined fields cannot be
    # confused; the body is last and may hold anything.
    return b"".join((_utf8(function), b"\0", _utf8(job_id), b"\0"))


def _hex_mac(prepared: hmac.HMAC, fields: bytes, body: bytes) -> bytes:
    mac = prepared.copy()
    mac.update(fields)
    mac.update(body)
    return mac.hexdigest().encode("ascii")


def _utf8(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else bytes(text)


# -- envelopes ---------------------------------------------------------------


class FailureReport(NamedTuple):
    """What a worker said about a job that failed."""

    type: str | None
    message: str
    traceback: str


#: The keys of a request.
_ENVELOPE = frozenset(("args", "kwargs"))


class PayloadCodec:
    """Requests, replies and failure reports for one configuration: a serializer, signing keys and
    whether failure reports carry tracebacks.

    `function` is the Gearman function name a job runs under (prefix included)
    and `job_id` its unique id in gearmand; signatures cover both, and which way
    the payload goes. Decoding raises PayloadError, and nothing else, for bytes
    it cannot accept.
    """

    def __init__(self, serializer: str = "json", signing_key: str | bytes | None = None, *,
                 signing_key_fallbacks: Iterable[str | bytes] = (), failure_tracebacks: bool = True):
        self.serializer_name = serializer
        self.serializer = get_serializer(serializer)
        if getattr(self.serializer, "requires_signing", False) and not signing_key:
            raise PayloadError(f"the {serializer!r} serializer refuses to run without GEARMAN_SIGNING_KEY")
        self.signing_keys = SigningKeys(signing_key, signing_key_fallbacks) if signing_key else None
        self.failure_tracebacks = failure_tracebacks

    @classmethod
    def from_settings(cls, settings: conf.GearmanSettings) -> PayloadCodec:
        return cls(settings.serializer, settings.signing_key, signing_key_fallbacks=settings.signing_key_fallbacks,
                   failure_tracebacks=settings.failure_tracebacks)

    def __repr__(self) -> str:
        return f"<PayloadCodec {self.serializer_name!r}, {'signed' if self.signing_keys else 'unsigned'}>"

    def seal(self, direction: str, function: str | bytes, job_id: str | bytes, body: bytes) -> bytes:
        """The body as it goes on the wire: signed when there is a key."""
        return self.signing_keys.sign(direction, function, job_id, body) if self.signing_keys else body

    def _open(self, direction: str, function: str | bytes, job_id: str | bytes, payload: bytes) -> Any:
        body = self.signing_keys.unsign(direction, function, job_id, payload) if self.signing_keys else payload
        try:
            return self.serializer.loads(body)
        except PayloadError:
            if self.signing_keys is None and _SIGNED.match(payload):
                raise PayloadError(f"{_NOUNS[direction]} is signed, but GEARMAN_SIGNING_KEY is not set on this side"
                                   ) from None
            raise
        except Exception as exc:  # a custom serializer's own error
            raise PayloadError(f"{_NOUNS[direction]} cannot be loaded by the {self.serializer_name!r} serializer: "
                               f"{_exception_name(exc)}: {exception_message(exc)}") from exc

    def request_body(self, args, kwargs) -> bytes:
        """The serialized envelope, before signing (`unique=True` derives the job id from it)."""
        return self.serializer.dumps({"args": list(args), "kwargs": dict(kwargs)})

    def encode_request(self, function: str | bytes, job_id: str | bytes, args, kwargs) -> bytes:
        return self.seal(REQUEST, function, job_id, self.request_body(args, kwargs))

    def decode_request(self, function: str | bytes, job_id: str | bytes, payload: bytes) -> tuple[list, dict]:
        request = self._open(REQUEST, function, job_id, payload)
        if not isinstance(request, dict) or not request.keys() <= _ENVELOPE:
            raise PayloadError(f'request must be {{"args": [...], "kwargs": {{...}}}}, got {_preview(request)}')
        args, kwargs = request.get("args", []), request.get("kwargs", {})
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise PayloadError(f'"args" must be a list and "kwargs" an object, got {_preview(request)}')
        if kwargs and not all(isinstance(name, str) for name in kwargs):
            raise PayloadError(f'"kwargs" must have string keys, got {_preview(kwargs)}')
        return list(args), kwargs

    def encode_result(self, function: str | bytes, job_id: str | bytes, value: Any) -> bytes:
        return self.seal(REPLY, function, job_id, self.serializer.dumps(value))

    def decode_result(self, function: str | bytes, job_id: str | bytes, payload: bytes) -> Any:
        return self._open(REPLY, function, job_id, payload)

    def encode_failure(self, function: str | bytes, job_id: str | bytes, exc: BaseException) -> bytes:
        """The failure report a worker sends: always JSON, never pickled; signed when there is a key. The
        traceback is left out with GEARMAN_FAILURE_TRACEBACKS = False."""
        error = {"type": _exception_name(exc), "message": exception_message(exc)}
        if self.failure_tracebacks:
            error["traceback"] = "".join(traceback.format_exception(exc))
        return self.seal(FAILURE, function, job_id, _compact_json({"error": error}))

    def decode_failure(self, function: str | bytes, job_id: str | bytes, data: bytes) -> FailureReport:
        """What a worker's failure report says.

        With a key, only a report signed for this job is believed: anything else
        is a PayloadError that says why and quotes the unverified text. Without
        one, a signed report is read as it is, and text that is not a report (a
        worker in another language giving a reason) is the message.
        """
        signed = _SIGNED.match(data)
        body = data[signed.end():] if signed and signed[1] else data
        if self.signing_keys is None:
            return _failure_report(body) or FailureReport(None, data.decode("utf-8", "replace"), "")
        try:
            body = self.signing_keys.unsign(FAILURE, function, job_id, data)
        except PayloadError as exc:
            claimed = _failure_report(body)
            text = ": ".join(filter(None, claimed[:2])) if claimed else body.decode("utf-8", "replace")
            raise PayloadError(f"{exc}; unverified, it says {_preview(text, 300)}") from None
        report = _failure_report(body)
        if report is None:
            raise PayloadError(f"failure report is signed but is not a report: {_preview(body)}")
        return report


def describe_failure(exc: BaseException) -> FailureReport:
    """An exception as a failure report describes it, traceback included (the result store keeps it)."""
    return FailureReport(_exception_name(exc), exception_message(exc), "".join(traceback.format_exception(exc)))


def _failure_report(body: bytes) -> FailureReport | None:
    """The report in `body`, if it is one: {"error": {"type": ..., "message": ..., "traceback": ...}}."""
    try:
        error = json.loads(body)["error"]
    except (ValueError, RecursionError, KeyError, TypeError):
        return None
    if not isinstance(error, dict):
        return None
    report = FailureReport(error.get("type"), error.get("message", ""), error.get("traceback", ""))
    if (report.type is not None and not isinstance(report.type, str)) or not isinstance(report.message, str) \
            or not isinstance(report.traceback, str):
        return None
    return report


def _exception_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")


# Made once: json.dumps and json.loads make a new encoder or decoder for every call with options.
# _tag rebuilds every list and dict, so what the encoder gets has no cycles to check for.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False)
_OPENERS = (b"{", b"[")
_TAGGED_DECODER = json.JSONDecoder(object_hook=_untag)
_PLAIN_DECODER = json.JSONDecoder()


def _compact_json(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


def _preview(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
