"""Arbitrary bytes, as a broken or hostile peer could send them: the packet parser and the admin
client raise only their documented errors (hypothesis, bounded so the suite stays fast)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.fakes import FakeAdminServer

from django_gearman.protocol import AdminClient, GearmanError, PacketType, Parser, ProtocolError, encode
from django_gearman.protocol.codec import ARGUMENT_COUNTS, HEADER, PAYLOAD_TYPES, RES, OversizedPayload

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` split at the given positions (as recv() might return it)."""
    positions = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    return [data[start:end] for start, end in zip(positions, positions[1:], strict=False)]


#: Mostly well-formed headers (so bodies get parsed), then anything.
headers = st.builds(
    lambda magic, kind, size, body: HEADER.pack(magic, kind, size) + body,
    st.sampled_from([RES, RES, RES, b"\0REQ", b"HTTP"]),
    st.one_of(st.sampled_from(list(PacketType)), st.integers(0, 2**32 - 1)),
    st.one_of(st.integers(0, 64), st.integers(0, 2**32 - 1)),
    st.binary(max_size=80),
)
streams = st.lists(st.one_of(headers, st.binary(max_size=40)), max_size=8).map(b"".join)


@FUZZ
@given(stream=streams, cuts=st.lists(st.integers(0, 10_000), max_size=6), limit=st.sampled_from([8, 64, 2**26]))
def test_the_packet_parser_raises_only_protocol_error(stream, cuts, limit):
    parser = Parser(RES, limit)
    try:
        for chunk in chunked(stream, cuts):
            for kind, args in parser.feed(chunk):
                assert len(args) == ARGUMENT_COUNTS[kind]
                assert all(type(arg) is bytes for arg in args[:-1])
                assert not args or type(args[-1]) is bytes or (
                    type(args[-1]) is OversizedPayload and kind in PAYLOAD_TYPES and args[-1].size > limit)
    except ProtocolError:
        pass


def packet_of(kind: PacketType):
    """A valid packet of `kind`: NUL-free arguments, then a last one that may hold anything."""
    count = ARGUMENT_COUNTS[kind]
    prefix = [st.binary(max_size=20).filter(lambda arg: b"\0" not in arg)] * max(count - 1, 0)
    last = [st.binary(max_size=200)] if count else []
    return st.tuples(st.just(kind), st.tuples(*prefix, *last))


@FUZZ
@given(sent=st.lists(st.sampled_from(list(PacketType)).flatmap(packet_of), max_size=10),
       cuts=st.lists(st.integers(0, 10_000), max_size=10), limit=st.sampled_from([16, 2**26]))
def test_valid_packets_come_back_whole_however_they_are_cut(sent, cuts, limit):
    stream = b"".join(encode(kind, *args, magic=RES) for kind, args in sent)
    parser = Parser(RES, limit)
    try:
        received = [packet for chunk in chunked(stream, cuts) for packet in parser.feed(chunk)]
    except ProtocolError as refused:
        # Only a packet over the limit whose type carries no payload may be refused.
        assert "exceeds the limit" in str(refused)
        return
    expected = [
        (kind, (*args[:-1], OversizedPayload(len(args[-1]), limit)) if args and len(args[-1]) > limit else args)
        for kind, args in sent
    ]
    assert received == expected
    assert parser.pending == 0


COMMANDS = {
    "status": AdminClient.status, "workers": AdminClient.workers, "show jobs": AdminClient.show_jobs,
    "version": AdminClient.version, "getpid": AdminClient.getpid, "ECHO_REQ": AdminClient.ping,
}

admin_text = st.lists(st.one_of(
    st.sampled_from([b".\n", b"\n", b"\t", b"OK ", b"ERR ", b"f\t1\t0\t0\n", b"3 127.0.0.1 - : f g\n", b"\r\n", b"\0"]),
    st.binary(max_size=30),
), max_size=12).map(b"".join)


@pytest.fixture(scope="module")
def scripted_admin():
    """A FakeAdminServer whose next reply is `scripted_admin.script = (text, echo placement, cuts)`."""

    def reply(command, echo):
        text, placement, cuts = server.script
        data = {"end": text + echo, "middle": text[: len(text) // 2] + echo + text[len(text) // 2 :],
                "none": text}[placement]
        return [*chunked(data, cuts), None]  # then hang up: a reply without our echo ends there

    with FakeAdminServer(reply) as server:
        yield server


@FUZZ
@given(command=st.sampled_from(sorted(COMMANDS)), text=admin_text, placement=st.sampled_from(["end", "middle", "none"]),
       cuts=st.lists(st.integers(0, 1000), max_size=4))
def test_the_admin_client_raises_only_gearman_errors(scripted_admin, command, text, placement, cuts):
    scripted_admin.script = (text, placement, cuts)
    try:
        with AdminClient(scripted_admin.address, timeout=5) as admin:
            COMMANDS[command](admin)
    except GearmanError:
        pass
