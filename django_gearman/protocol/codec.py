"""Gearman's binary packet format: encoding requests and parsing responses.

Every packet is a 12-byte header (magic, type, body size, big-endian) and a
body of NUL-separated arguments; the last argument may itself contain NULs.
"""

from __future__ import annotations

import struct
from enum import IntEnum
from typing import NamedTuple

from .errors import ProtocolError

REQ = b"\0REQ"
RES = b"\0RES"
HEADER = struct.Struct(">4sII")
_pack_header = HEADER.pack
_unpack_header = HEADER.unpack_from
#: The largest job data, result or report a parser keeps by default; longer
#: ones are read and dropped (see `OversizedPayload`), so a corrupt or hostile
#: length cannot make us buffer gigabytes.
DEFAULT_MAX_PAYLOAD_SIZE = 64 * 1024 * 1024
#: How far into an over-long packet the arguments before its payload (handle,
#: function, unique id: gearmand allows 64, 512 and 64 bytes) must end.
MAX_PREFIX_SIZE = 4096


class PacketType(IntEnum):
    CAN_DO = 1
    CANT_DO = 2
    RESET_ABILITIES = 3
    PRE_SLEEP = 4
    NOOP = 6
    SUBMIT_JOB = 7
    JOB_CREATED = 8
    GRAB_JOB = 9
    NO_JOB = 10
    JOB_ASSIGN = 11
    WORK_STATUS = 12
    WORK_COMPLETE = 13
    WORK_FAIL = 14
    GET_STATUS = 15
    ECHO_REQ = 16
    ECHO_RES = 17
    SUBMIT_JOB_BG = 18
    ERROR = 19
    STATUS_RES = 20
    SUBMIT_JOB_HIGH = 21
    SET_CLIENT_ID = 22
    CAN_DO_TIMEOUT = 23
    ALL_YOURS = 24
    WORK_EXCEPTION = 25
    OPTION_REQ = 26
    OPTION_RES = 27
    WORK_DATA = 28
    WORK_WARNING = 29
    GRAB_JOB_UNIQ = 30
    JOB_ASSIGN_UNIQ = 31
    SUBMIT_JOB_HIGH_BG = 32
    SUBMIT_JOB_LOW = 33
    SUBMIT_JOB_LOW_BG = 34
    SUBMIT_JOB_SCHED = 35
    SUBMIT_JOB_EPOCH = 36
    SUBMIT_REDUCE_JOB = 37
    SUBMIT_REDUCE_JOB_BACKGROUND = 38
    GRAB_JOB_ALL = 39
    JOB_ASSIGN_ALL = 40
    GET_STATUS_UNIQUE = 41
    STATUS_RES_UNIQUE = 42


#: How many NUL-separated arguments each packet type carries.
ARGUMENT_COUNTS = {
    PacketType.CAN_DO: 1,
    PacketType.CANT_DO: 1,
    PacketType.RESET_ABILITIES: 0,
    PacketType.PRE_SLEEP: 0,
    PacketType.NOOP: 0,
    PacketType.SUBMIT_JOB: 3,
    PacketType.JOB_CREATED: 1,
    PacketType.GRAB_JOB: 0,
    PacketType.NO_JOB: 0,
    PacketType.JOB_ASSIGN: 3,
    PacketType.WORK_STATUS: 3,
    PacketType.WORK_COMPLETE: 2,
    PacketType.WORK_FAIL: 1,
    PacketType.GET_STATUS: 1,
    PacketType.ECHO_REQ: 1,
    PacketType.ECHO_RES: 1,
    PacketType.SUBMIT_JOB_BG: 3,
    PacketType.ERROR: 2,
    PacketType.STATUS_RES: 5,
    PacketType.SUBMIT_JOB_HIGH: 3,
    PacketType.SET_CLIENT_ID: 1,
    PacketType.CAN_DO_TIMEOUT: 2,
    PacketType.ALL_YOURS: 0,
    PacketType.WORK_EXCEPTION: 2,
    PacketType.OPTION_REQ: 1,
    PacketType.OPTION_RES: 1,
    PacketType.WORK_DATA: 2,
    PacketType.WORK_WARNING: 2,
    PacketType.GRAB_JOB_UNIQ: 0,
    PacketType.JOB_ASSIGN_UNIQ: 4,
    PacketType.SUBMIT_JOB_HIGH_BG: 3,
    PacketType.SUBMIT_JOB_LOW: 3,
    PacketType.SUBMIT_JOB_LOW_BG: 3,
    PacketType.SUBMIT_JOB_SCHED: 8,
    PacketType.SUBMIT_JOB_EPOCH: 4,
    PacketType.SUBMIT_REDUCE_JOB: 4,
    PacketType.SUBMIT_REDUCE_JOB_BACKGROUND: 4,
    PacketType.GRAB_JOB_ALL: 0,
    PacketType.JOB_ASSIGN_ALL: 5,
    PacketType.GET_STATUS_UNIQUE: 1,
    PacketType.STATUS_RES_UNIQUE: 6,
}
_COUNTS_BY_NUMBER = {int(kind): count for kind, count in ARGUMENT_COUNTS.items()}

#: (priority, background) -> submit packet type.
SUBMIT_TYPES = {
    ("high", False): PacketType.SUBMIT_JOB_HIGH,
    ("normal", False): PacketType.SUBMIT_JOB,
    ("low", False): PacketType.SUBMIT_JOB_LOW,
    ("high", True): PacketType.SUBMIT_JOB_HIGH_BG,
    ("normal", True): PacketType.SUBMIT_JOB_BG,
    ("low", True): PacketType.SUBMIT_JOB_LOW_BG,
}


class Packet(NamedTuple):
    kind: int
    args: tuple[bytes, ...]


def to_bytes(value: bytes | str | bytearray | memoryview | None, what: str = "job data") -> bytes:
    """bytes as they are, str as UTF-8, None as nothing; anything else is a TypeError naming `what`."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if value is None:
        return b""
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


def encode(kind: int, *args: bytes, magic: bytes = REQ) -> bytes:
    """One packet; `args` must already be bytes and all but the last NUL-free."""
    if _COUNTS_BY_NUMBER.get(kind) != len(args):
        _refuse(kind, args)
    for arg in args[:-1]:
        if b"\0" in arg:
            _refuse(kind, args)
    body = b"\0".join(args)
    return _pack_header(magic, kind, len(body)) + body


def _refuse(kind: int, args: tuple[bytes, ...]) -> None:
    """Raise the ProtocolError that says what is wrong with encoding `args` as `kind`."""
    expected = _COUNTS_BY_NUMBER.get(kind)
    if expected is None:
        raise ProtocolError(f"cannot encode unknown packet type {kind}")
    if len(args) != expected:
        raise ProtocolError(f"{PacketType(kind).name} takes {expected} argument(s), got {len(args)}")
    position = next(position for position, arg in enumerate(args[:-1]) if b"\0" in arg)
    raise ProtocolError(
        f"{PacketType(kind).name} argument {position + 1} contains a NUL byte; only the last argument may"
    )


#: Packet types whose last argument is job data, a result or a report: the
#: ones a peer may legitimately make longer than our limit.
PAYLOAD_TYPES = frozenset((
    PacketType.SUBMIT_JOB, PacketType.SUBMIT_JOB_BG, PacketType.SUBMIT_JOB_HIGH, PacketType.SUBMIT_JOB_HIGH_BG,
    PacketType.SUBMIT_JOB_LOW, PacketType.SUBMIT_JOB_LOW_BG, PacketType.SUBMIT_JOB_SCHED, PacketType.SUBMIT_JOB_EPOCH,
    PacketType.SUBMIT_REDUCE_JOB, PacketType.SUBMIT_REDUCE_JOB_BACKGROUND,
    PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL,
    PacketType.WORK_COMPLETE, PacketType.WORK_DATA, PacketType.WORK_WARNING, PacketType.WORK_EXCEPTION,
))


class OversizedPayload(bytes):
    """Stands in for a payload longer than the parser's `max_payload_size`.

    Its bytes were read and dropped, so the connection stays usable and the
    job it belongs to (the packet's other arguments say which) can be failed,
    with `str(payload)` as the reason. It is empty bytes, so a packet keeps
    its type; code that handles payloads checks `type(arg) is OversizedPayload`.
    """

    size: int
    limit: int

    def __new__(cls, size: int, limit: int) -> OversizedPayload:
        payload = super().__new__(cls)
        payload.size, payload.limit = size, limit
        return payload

    def __eq__(self, other: object) -> bool:
        return type(other) is OversizedPayload and (other.size, other.limit) == (self.size, self.limit)

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash((OversizedPayload, self.size, self.limit))

    def __repr__(self) -> str:
        return f"OversizedPayload(size={self.size}, limit={self.limit})"

    def __str__(self) -> str:
        return f"{self.size} bytes, more than the limit of {self.limit} bytes (max_payload_size)"


class _Spanning:
    """A packet whose body did not arrive in one piece, or is over the limit."""

    __slots__ = ("kind", "count", "size", "remaining", "args", "parts", "prefix_size", "dropped")

    def __init__(self, kind: int, count: int, size: int):
        self.kind = kind
        self.count = count
        self.size = size
        self.remaining = size  # body bytes not yet seen
        self.args: list[bytes] = []  # the arguments before the last, once complete
        self.parts: list[memoryview] = []  # the pieces of the argument being read
        self.prefix_size = 0
        self.dropped: OversizedPayload | None = None


class Parser:
    """Incremental parser: feed it whatever `recv` returned, get whole packets back.

    A body that spans reads is kept as views of the received bytes and joined
    once, argument by argument: a large payload is copied exactly once. A
    payload over `max_payload_size` is not kept at all (`OversizedPayload`).
    """

    def __init__(self, magic: bytes = RES, max_payload_size: int = DEFAULT_MAX_PAYLOAD_SIZE):
        self.magic = magic
        self.max_payload_size = max_payload_size
        self._head = b""  # the start of a header cut short by the end of a read
        self._packet: _Spanning | None = None

    def feed(self, data: bytes) -> list[Packet]:
        if type(data) is not bytes:
            data = bytes(data)
        packets: list[Packet] = []
        offset = 0
        if self._packet is not None:
            offset = self._continue(self._packet, data, 0, packets)
            if self._packet is not None:
                return packets
        elif self._head:
            data = self._head + data
            self._head = b""
        limit = self.max_payload_size
        available = len(data)
        while available - offset >= 12:
            magic, kind, size = _unpack_header(data, offset)
            if magic != self.magic:
                raise ProtocolError(f"bad packet magic {bytes(magic)!r} (expected {self.magic!r})")
            count = _COUNTS_BY_NUMBER.get(kind)
            if count is None:
                raise ProtocolError(f"unknown packet type {kind}")
            start = offset + 12
            end = start + size
            if end > available or size > limit:
                offset = self._begin(kind, count, size, data, start, packets)
                if self._packet is not None:
                    return packets  # the rest of `data` is the start of that packet
                continue
            offset = end
            if count == 1:
                packets.append(Packet(kind, (data[start:end],)))
            elif count == 0:
                if size:
                    raise ProtocolError(f"{PacketType(kind).name} must have an empty body, got {size} bytes")
                packets.append(Packet(kind, ()))
            else:
                args = data[start:end].split(b"\0", count - 1)
                if len(args) != count:
                    raise ProtocolError(f"{PacketType(kind).name} needs {count} arguments, got {len(args)}")
                packets.append(Packet(kind, tuple(args)))
        if offset < available:
            self._head = data[offset:]
        return packets

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole packet."""
        packet = self._packet
        return len(self._head) if packet is None else 12 + packet.size - packet.remaining

    def _begin(self, kind: int, count: int, size: int, data: bytes, start: int, packets: list[Packet]) -> int:
        name = PacketType(kind).name
        if count == 0 and size:
            raise ProtocolError(f"{name} must have an empty body, got {size} bytes")
        if size > self.max_payload_size and kind not in PAYLOAD_TYPES:
            raise ProtocolError(f"{name} body of {size} bytes exceeds the limit of {self.max_payload_size} bytes")
        self._packet = _Spanning(kind, count, size)
        return self._continue(self._packet, data, start, packets)

    def _continue(self, packet: _Spanning, data: bytes, position: int, packets: list[Packet]) -> int:
        """Take what `data` holds of `packet` (the current one) from `position` on; returns where it ended."""
        entry, left = position, packet.remaining
        end = min(len(data), position + left)
        view = memoryview(data)
        parts = packet.parts
        args = packet.args
        while len(args) < packet.count - 1 and position < end:
            separator = data.find(b"\0", position, end)
            if separator < 0:
                parts.append(view[position:end])
                packet.prefix_size += end - position
                position = end
                if packet.size > self.max_payload_size and packet.prefix_size > MAX_PREFIX_SIZE:
                    raise ProtocolError(
                        f"{PacketType(packet.kind).name} of {packet.size} bytes has no argument separator "
                        f"in its first {MAX_PREFIX_SIZE} bytes"
                    )
                break
            parts.append(view[position:separator])
            args.append(b"".join(parts))
            parts.clear()
            packet.prefix_size += separator + 1 - position
            position = separator + 1
            if len(args) == packet.count - 1:
                payload_size = left - (position - entry)
                if payload_size > self.max_payload_size:
                    packet.dropped = OversizedPayload(payload_size, self.max_payload_size)
        if position < end and packet.dropped is None:
            parts.append(view[position:end])
        packet.remaining = left - (end - entry)
        if packet.remaining:
            return end
        self._packet = None
        if len(args) < packet.count - 1:
            raise ProtocolError(f"{PacketType(packet.kind).name} needs {packet.count} arguments, got {len(args) + 1}")
        payload = packet.dropped if packet.dropped is not None else b"".join(parts)
        packets.append(Packet(packet.kind, (*args, payload)))
        return end
