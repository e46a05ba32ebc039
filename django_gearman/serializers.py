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
import traceback
import uuid
from functools import lru_cache
from typing import Any

from django.utils.functional import Promise
from django.utils.module_loading import import_string

from .exceptions import PayloadError
from .protocol.errors import exception_message

TAG = "__gearman__"


class JSONSerializer:
    """JSON with tagged datetime, date, time, timedelta, Decimal, UUID, bytes, tuples."""

    def dumps(self, value: Any) -> bytes:
        return _compact_json(_tag(value))

    def loads(self, data: bytes) -> Any:
        try:
            return json.loads(data, object_hook=_untag)
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


def _tag(value: Any) -> Any:
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


@lru_cache(maxsize=8)
def get_serializer(name: str):
    """'json', 'pickle', or the dotted path of a class with dumps(value) and loads(bytes)."""
    if name == "json":
        return JSONSerializer()
    if name == "pickle":
        return PickleSerializer()
    return import_string(name)()


# -- signing ---------------------------------------------------------------

SIGNATURE_LENGTH = 64  # hex digits of an HMAC-SHA256


def sign(body: bytes, key: str | bytes, function: str | bytes) -> bytes:
    """`<hex HMAC-SHA256 of function NUL body>:` + body.

    The Gearman function name is signed with the body, so a signed job
    cannot be replayed to another task."""
    return _mac(body, key, function).encode("ascii") + b":" + body


def unsign(payload: bytes, key: str | bytes, function: str | bytes) -> bytes:
    """The body of a payload signed for `function`; PayloadError if unsigned or tampered with."""
    signature, separator, body = payload.partition(b":")
    if not separator or len(signature) != SIGNATURE_LENGTH:
        raise PayloadError("payload is not signed, but GEARMAN_SIGNING_KEY requires signed payloads")
    if not hmac.compare_digest(signature, _mac(body, key, function).encode("ascii")):
        raise PayloadError(
            "payload signature does not match: it was tampered with, signed with another key or for another task"
        )
    return body


def _looks_signed(payload: bytes) -> bool:
    signature, separator, _ = payload.partition(b":")
    return bool(separator) and len(signature) == SIGNATURE_LENGTH and all(c in b"0123456789abcdef" for c in signature)


def _mac(body: bytes, key: str | bytes, function: str | bytes) -> str:
    message = _utf8(function) + b"\0" + body
    return hmac.new(_utf8(key), message, hashlib.sha256).hexdigest()


def _utf8(text: str | bytes) -> bytes:
    return text.encode() if isinstance(text, str) else text


# -- envelopes ---------------------------------------------------------------


class PayloadCodec:
    """Encodes requests and replies for one (serializer, signing key) configuration.

    `function` is the Gearman function name the job runs under (prefix
    included); signatures cover it.
    """

    def __init__(self, serializer: str = "json", signing_key: str | bytes | None = None):
        self.serializer_name = serializer
        self.serializer = get_serializer(serializer)
        if getattr(self.serializer, "requires_signing", False) and not signing_key:
            raise PayloadError(f"the {serializer!r} serializer refuses to run without GEARMAN_SIGNING_KEY")
        self.signing_key = signing_key

    def _seal(self, function: str | bytes, value: Any) -> bytes:
        body = self.serializer.dumps(value)
        return sign(body, self.signing_key, function) if self.signing_key else body

    def _open(self, function: str | bytes, payload: bytes) -> Any:
        if self.signing_key:
            payload = unsign(payload, self.signing_key, function)
        try:
            return self.serializer.loads(payload)
        except PayloadError:
            if _looks_signed(payload):
                raise PayloadError("payload is signed, but GEARMAN_SIGNING_KEY is not set on this side") from None
            raise
        except Exception as exc:  # a custom serializer's own error
            raise PayloadError(f"payload cannot be loaded by the {self.serializer_name!r} serializer: "
                               f"{_exception_name(exc)}: {exception_message(exc)}") from exc

    def encode_request(self, function: str | bytes, args, kwargs) -> bytes:
        return self._seal(function, {"args": list(args), "kwargs": dict(kwargs)})

    def decode_request(self, function: str | bytes, payload: bytes) -> tuple[list, dict]:
        request = self._open(function, payload)
        if not isinstance(request, dict) or set(request) - {"args", "kwargs"}:
            raise PayloadError(f'request must be {{"args": [...], "kwargs": {{...}}}}, got {_preview(request)}')
        args, kwargs = request.get("args", []), request.get("kwargs", {})
        if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
            raise PayloadError(f'"args" must be a list and "kwargs" an object, got {_preview(request)}')
        if not all(isinstance(name, str) for name in kwargs):
            raise PayloadError(f'"kwargs" must have string keys, got {_preview(kwargs)}')
        return list(args), kwargs

    def encode_result(self, function: str | bytes, value: Any) -> bytes:
        return self._seal(function, value)

    def decode_result(self, function: str | bytes, payload: bytes) -> Any:
        return self._open(function, payload)


def encode_failure(exc: BaseException) -> bytes:
    """The failure report a worker sends (always plain JSON, never pickled)."""
    report = {
        "error": {
            "type": _exception_name(exc),
            "message": exception_message(exc),
            "traceback": "".join(traceback.format_exception(exc)),
        }
    }
    return _compact_json(report)


def decode_failure(data: bytes | None) -> dict:
    """type/message/traceback from a failure report; foreign workers' text becomes the message."""
    if not data:
        return {"type": None, "message": "", "traceback": ""}
    try:
        error = json.loads(data)["error"]
        return {"type": error.get("type"), "message": error.get("message", ""), "traceback": error.get("traceback", "")}
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
        return {"type": None, "message": data.decode("utf-8", "replace"), "traceback": ""}


def _exception_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")


def _compact_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
