"""The binary packet codec: pure logic, no server needed."""

from __future__ import annotations

import random
import subprocess
import sys
import tracemalloc

import pytest

from django_gearman.protocol import PacketType, Parser, ProtocolError, encode
from django_gearman.protocol.codec import (
    ARGUMENT_COUNTS,
    DEFAULT_MAX_PAYLOAD_SIZE,
    HEADER,
    MAX_PREFIX_SIZE,
    PAYLOAD_TYPES,
    REQ,
    RES,
    OversizedPayload,
)

BINARY = bytes(range(256))


def sample_args(kind: PacketType) -> tuple[bytes, ...]:
    """Distinct arguments for `kind`; the last one (which may hold NULs) carries every byte value."""
    count = ARGUMENT_COUNTS[kind]
    return tuple(f"arg{index}".encode() for index in range(count - 1)) + ((BINARY + "ž🐎".encode(),) if count else ())


def test_every_packet_type_has_an_argument_count():
    assert set(ARGUMENT_COUNTS) == set(PacketType)


@pytest.mark.parametrize("kind", list(PacketType), ids=lambda kind: kind.name)
@pytest.mark.parametrize("magic", [REQ, RES], ids=["REQ", "RES"])
def test_every_packet_type_round_trips(kind, magic):
    args = sample_args(kind)
    packet = encode(kind, *args, magic=magic)
    assert packet[:4] == magic
    assert Parser(magic).feed(packet) == [(kind, args)]


def test_empty_arguments_are_kept():
    # SUBMIT_JOB with no unique id and no data is the common case.
    packet = encode(PacketType.JOB_ASSIGN_UNIQ, b"H:1", b"f", b"", b"", magic=RES)
    assert Parser().feed(packet) == [(PacketType.JOB_ASSIGN_UNIQ, (b"H:1", b"f", b"", b""))]


def test_header_is_big_endian_magic_type_size():
    assert encode(PacketType.ECHO_REQ, b"abc") == b"\0REQ" + (16).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"abc"


def test_several_packets_in_one_read():
    packets = [
        (PacketType.NOOP, ()),
        (PacketType.JOB_CREATED, (b"H:x:1",)),
        (PacketType.WORK_COMPLETE, (b"H:x:1", b"r\0s")),
    ]
    stream = b"".join(encode(kind, *args, magic=RES) for kind, args in packets)
    assert Parser().feed(stream) == packets


def test_partial_reads_one_byte_at_a_time():
    packets = [(kind, sample_args(kind)) for kind in PacketType]
    stream = b"".join(encode(kind, *args, magic=RES) for kind, args in packets)
    parser = Parser()
    parsed = []
    for index in range(len(stream)):
        parsed += parser.feed(stream[index : index + 1])
    assert parsed == packets
    assert parser.pending == 0


@pytest.mark.parametrize("seed", range(5))
def test_partial_reads_at_random_boundaries(seed):
    chooser = random.Random(seed)
    packets = [(PacketType.WORK_DATA, (b"H:%d" % n, chooser.randbytes(chooser.randrange(0, 3000)))) for n in range(50)]
    stream = b"".join(encode(kind, *args, magic=RES) for kind, args in packets)
    parser = Parser()
    parsed = []
    position = 0
    while position < len(stream):
        step = chooser.randrange(1, 4000)
        parsed += parser.feed(stream[position : position + step])
        position += step
    assert parsed == packets


def test_pending_counts_bytes_of_an_unfinished_packet():
    packet = encode(PacketType.ECHO_RES, b"hello", magic=RES)
    parser = Parser()
    assert parser.feed(packet[:7]) == []
    assert parser.pending == 7
    assert parser.feed(packet[7:]) == [(PacketType.ECHO_RES, (b"hello",))]
    assert parser.pending == 0


def frame(kind: int, body: bytes, magic: bytes = RES) -> bytes:
    return HEADER.pack(magic, kind, len(body)) + body


@pytest.mark.parametrize(
    ("data", "fault"),
    [
        (frame(PacketType.NOOP, b"", magic=REQ), r"bad packet magic b'\\x00REQ'"),
        (b"HTTP/1.1 400 Bad Request\r\n", "bad packet magic b'HTTP'"),
        (frame(999, b""), "unknown packet type 999"),
        (frame(0, b""), "unknown packet type 0"),
        (HEADER.pack(RES, PacketType.ECHO_RES, DEFAULT_MAX_PAYLOAD_SIZE + 1),
         "ECHO_RES body of 67108865 bytes exceeds the limit of 67108864 bytes"),
        (HEADER.pack(RES, PacketType.NOOP, 5), "NOOP must have an empty body, got 5 bytes"),
        (frame(PacketType.NOOP, b"x"), "NOOP must have an empty body, got 1 bytes"),
        (frame(PacketType.JOB_ASSIGN, b"H:1\0f"), "JOB_ASSIGN needs 3 arguments, got 2"),
        (frame(PacketType.STATUS_RES, b"H:1"), "STATUS_RES needs 5 arguments, got 1"),
    ],
    ids=[
        "request-magic", "not-gearman", "unknown-type", "type-zero",
        "oversized", "announced-body-on-noop", "body-on-noop", "short-assign", "short-status",
    ],
)
def test_malformed_frames_raise_naming_the_fault(data, fault):
    with pytest.raises(ProtocolError, match=fault):
        Parser().feed(data)


def test_malformed_frame_after_good_ones_is_still_detected():
    with pytest.raises(ProtocolError, match="unknown packet type 77"):
        Parser().feed(encode(PacketType.NOOP, magic=RES) + frame(77, b""))


def test_oversized_length_is_refused_before_the_body_arrives():
    # Otherwise a corrupt header would make us buffer up to 4 GiB first.
    with pytest.raises(ProtocolError, match="exceeds"):
        Parser().feed(HEADER.pack(RES, PacketType.JOB_CREATED, 2**32 - 1))


def feed_in_chunks(parser: Parser, stream: bytes, size: int = 65536) -> list:
    return [packet for start in range(0, len(stream), size) for packet in parser.feed(stream[start : start + size])]


def test_a_payload_over_the_limit_is_dropped_and_the_stream_goes_on():
    big = encode(PacketType.WORK_COMPLETE, b"H:1", b"x" * 100_001, magic=RES)
    after = encode(PacketType.WORK_COMPLETE, b"H:2", b"fine", magic=RES)
    parser = Parser(max_payload_size=100_000)
    assert feed_in_chunks(parser, big + after, 4096) == [
        (PacketType.WORK_COMPLETE, (b"H:1", OversizedPayload(100_001, 100_000))),
        (PacketType.WORK_COMPLETE, (b"H:2", b"fine")),
    ]
    assert parser.pending == 0


def test_the_limit_is_on_the_payload_not_on_the_handle_and_function_before_it():
    assignment = (b"H:host:12345", b"some.function", b"unique-id", b"y" * 1000)
    parser = Parser(max_payload_size=1000)
    assert parser.feed(encode(PacketType.JOB_ASSIGN_UNIQ, *assignment, magic=RES)) == [
        (PacketType.JOB_ASSIGN_UNIQ, assignment)
    ]
    over = (*assignment[:3], b"y" * 1001)
    assert parser.feed(encode(PacketType.JOB_ASSIGN_UNIQ, *over, magic=RES)) == [
        (PacketType.JOB_ASSIGN_UNIQ, (*assignment[:3], OversizedPayload(1001, 1000)))
    ]


def test_every_payload_type_can_be_dropped():
    for kind in PAYLOAD_TYPES:
        count = ARGUMENT_COUNTS[kind]
        prefix = tuple(b"a%d" % index for index in range(count - 1))
        packet = encode(kind, *prefix, b"z" * 11, magic=RES)
        assert Parser(max_payload_size=10).feed(packet) == [(kind, (*prefix, OversizedPayload(11, 10)))], kind.name


def test_an_over_long_packet_without_separators_is_refused_early():
    # A hostile length with no handle in sight: refused after MAX_PREFIX_SIZE bytes, not read to its end.
    parser = Parser(max_payload_size=100)
    header = HEADER.pack(RES, PacketType.WORK_COMPLETE, 2**31)
    with pytest.raises(ProtocolError, match=f"no argument separator in its first {MAX_PREFIX_SIZE} bytes"):
        parser.feed(header + b"h" * (MAX_PREFIX_SIZE + 1))


def test_a_large_body_is_copied_once():
    body = bytes(range(256)) * (32 * 1024)  # 8 MiB
    chunks = [piece for piece in (
        encode(PacketType.WORK_COMPLETE, b"H:1", body, magic=RES)[start : start + 65536]
        for start in range(0, len(body) + 16, 65536)
    ) if piece]
    parser = Parser()
    tracemalloc.start()
    try:
        packets = [packet for chunk in chunks for packet in parser.feed(chunk)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert packets == [(PacketType.WORK_COMPLETE, (b"H:1", body))]
    # The joined result, plus small change; a buffer grown and then copied to bytes costs three times that.
    assert peak < len(body) * 1.2, f"parsing an 8 MiB body allocated {peak} bytes at peak"


@pytest.mark.parametrize(
    ("kind", "args", "fault"),
    [
        (PacketType.SUBMIT_JOB, (b"f", b""), "SUBMIT_JOB takes 3 argument"),
        (PacketType.NOOP, (b"x",), "NOOP takes 0 argument"),
        (PacketType.SUBMIT_JOB, (b"f\0g", b"", b""), "SUBMIT_JOB argument 1 contains a NUL byte"),
        (PacketType.WORK_COMPLETE, (b"H:1\0", b""), "WORK_COMPLETE argument 1 contains a NUL byte"),
        (5, (), "cannot encode unknown packet type 5"),
    ],
    ids=["too-few", "too-many", "nul-in-function", "nul-in-handle", "unknown-type"],
)
def test_encode_refuses_what_gearmand_would_misread(kind, args, fault):
    with pytest.raises(ProtocolError, match=fault):
        encode(kind, *args)


def test_nul_in_the_last_argument_is_allowed():
    packet = encode(PacketType.SUBMIT_JOB, b"f", b"u", b"\0a\0")
    assert Parser(REQ).feed(packet) == [(PacketType.SUBMIT_JOB, (b"f", b"u", b"\0a\0"))]


def test_protocol_package_and_fixture_plugin_do_not_import_django():
    """The protocol core could be published on its own; the pytest plugin serves any project."""
    check = (
        "import sys, django_gearman.protocol, django_gearman.testing, django_gearman.pytest_plugin; "
        "sys.exit(any(name == 'django' or name.startswith('django.') for name in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", check], timeout=30).returncode == 0
