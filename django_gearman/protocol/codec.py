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
#: A sanity bound so a corrupt length cannot make us buffer gigabytes.
MAX_BODY_SIZE = 256 * 1024 * 1024


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


def to_bytes(value, what: str = "job data") -> bytes:
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


class Parser:
    """Incremental parser: feed it whatever `recv` returned, get whole packets back."""

    def __init__(self, magic: bytes = RES):
        self.magic = magic
        self._buffer = bytearray()
        self._wanted = 0  # bytes the buffer must hold before parsing it is worth it

    def feed(self, data: bytes) -> list[Packet]:
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < self._wanted:
                return []  # still inside one packet: do not copy it again
            data = bytes(buffer)
            buffer.clear()
        elif type(data) is not bytes:
            data = bytes(data)
        packets = []
        offset = 0
        available = len(data)
        while available - offset >= 12:
            magic, kind, size = _unpack_header(data, offset)
            if magic != self.magic:
                raise ProtocolError(f"bad packet magic {bytes(magic)!r} (expected {self.magic!r})")
            count = _COUNTS_BY_NUMBER.get(kind)
            if count is None:
                raise ProtocolError(f"unknown packet type {kind}")
            if size > MAX_BODY_SIZE:
                raise ProtocolError(f"{PacketType(kind).name} body of {size} bytes exceeds {MAX_BODY_SIZE}")
            start = offset + 12
            end = start + size
            if end > available:
                break
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
            buffer += data[offset:]
            # A whole header says how long its packet is; until then, wait for one.
            self._wanted = 12 + size if available - offset >= 12 else 12
        return packets

    @property
    def pending(self) -> int:
        """Bytes received but not yet part of a whole packet."""
        return len(self._buffer)
