"""The msgpack-RPC framing, limits, message checks and parameter checks (no sockets)."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundtrack.errors import SoundtrackError
from soundtrack.ipc.protocol import Decoder, ErrorCode, FramingError, Limits, Params, RpcError, encode_request, parse_message
from soundtrack.ipc.server import is_loopback, parse_tcp_address
from soundtrack.ipc.wire import to_s16


def test_decoder_yields_messages_split_at_any_byte() -> None:
    msgs = [[0, i, "ping", [b"x" * i]] for i in range(50)]
    data = b"".join(msgpack.packb(m, use_bin_type=True) for m in msgs)
    for step in (1, 7, 4096, len(data)):
        d = Decoder()
        out = []
        for i in range(0, len(data), step):
            out.extend(d.feed(data[i : i + step]))
        assert [m for m, _ in out] == msgs
        assert [n for _, n in out] == [len(msgpack.packb(m, use_bin_type=True)) for m in msgs]
        assert d.pending == 0


def test_decoder_refuses_a_message_over_the_size_limit_before_buffering_it() -> None:
    limits = Limits(max_message_bytes=10_000, max_bin_len=1 << 20)
    d = Decoder(limits)
    big = msgpack.packb([0, 1, "ping", [b"\0" * 50_000]], use_bin_type=True)
    with pytest.raises(FramingError) as e:
        list(d.feed(big[:30_000]))
    assert e.value.code == ErrorCode.MESSAGE_TOO_LARGE
    assert "10000 bytes" in str(e.value)


def test_decoder_stops_a_message_of_a_million_tiny_containers_early() -> None:
    # a megabyte of empty arrays is a million objects: parsing it took 0.4 s and checking its
    # depth 1.8 s of the loop's time; now the unpacker's hooks stop it past max_elements
    import time

    msg = msgpack.packb([0, 1, "ping", [[[] for _ in range(4096)]] * 250])
    d = Decoder()
    t = time.perf_counter()
    with pytest.raises(FramingError) as e:
        list(d.feed(msg[: 1 << 20]))
    assert time.perf_counter() - t < 0.05
    assert e.value.code == ErrorCode.PARSE_ERROR and "max_elements" in str(e.value)
    ok = [0, 2, "ping", [[list(range(100)) for _ in range(40)], {str(i): [i] for i in range(100)}]]  # 4,400 elements
    assert [m for m, _ in Decoder().feed(msgpack.packb(ok))] == [ok]


def test_decoder_counts_a_message_as_its_bytes_arrive_even_inside_finished_bins() -> None:
    # 100 bins of 1 MiB in one array: each bin is complete, so the unpacker's buffer never holds
    # more than one, yet the message is 100 MB. It was parsed whole before (and 10 held 1 GB).
    bin1 = msgpack.packb(b"\0" * (1 << 20), use_bin_type=True)
    head = b"\x94\x00\x01\xa4ping\xdc\x00\x64"  # [0, 1, "ping", array16 of 100 ...
    d = Decoder()
    fed = 0
    with pytest.raises(FramingError) as e:
        for _ in d.feed(head):
            pass
        for _ in range(100):
            fed += len(bin1)
            for _ in d.feed(bin1):
                pass
    assert e.value.code == ErrorCode.MESSAGE_TOO_LARGE
    assert fed <= 2 * len(bin1)  # refused within the second MiB, not after 100


@pytest.mark.parametrize(
    "data, what",
    [
        (b"\xc1", "FormatError"),  # never-used byte
        (b"\xa3\xff\xfe\xfd", "UnicodeDecodeError"),  # str that is not UTF-8
        (msgpack.packb(list(range(5000))), "array"),  # over max_array_len 4096
        (msgpack.packb({str(i): i for i in range(300)}), "map"),  # over max_map_len 256
        (msgpack.packb({1: 2}), "key"),  # non-string map key
        (b"\x91" * 3000, "StackError"),  # nesting deeper than the C stack
    ],
)
def test_decoder_turns_malformed_bytes_into_a_parse_error(data: bytes, what: str) -> None:
    with pytest.raises(FramingError) as e:
        list(Decoder().feed(data))
    assert e.value.code == ErrorCode.PARSE_ERROR
    assert "unparseable msgpack" in str(e.value)


def test_parse_message_accepts_requests_and_client_notifications() -> None:
    r = parse_message([0, 7, "event", ["enemy"]])
    assert (r.msgid, r.method, r.params) == (7, "event", ["enemy"])
    n = parse_message([2, "event", ["enemy"]])
    assert (n.msgid, n.method) == (None, "event")


@pytest.mark.parametrize(
    "msg, msgid, text",
    [
        (5, None, "non-empty array"),
        ([], None, "non-empty array"),
        ([1, 3, None, None], None, "must be 0 (request) or 2"),
        ([0, -1, "x", []], None, "msgid=-1"),
        ([0, 2**32, "x", []], None, "msgid=4294967296"),
        ([0, 1, "x"], None, "[0, msgid, method, params]"),
        ([0, 9, 3, []], 9, "method must be a non-empty string"),
        ([0, 9, "render", {"frames": 1}], 9, "params must be an array"),
        ([0, 9, "ping", [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]], 9, "nested deeper than 16"),
        ([True, 1, "x", []], None, "message type True"),
    ],
)
def test_parse_message_names_what_is_wrong(msg: object, msgid: int | None, text: str) -> None:
    with pytest.raises(RpcError) as e:
        parse_message(msg)
    assert e.value.code == ErrorCode.INVALID_REQUEST
    assert text in e.value.message
    assert (e.value.data or {}).get("msgid") == msgid


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text() | st.binary(), lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=30))
def test_parse_message_never_fails_any_other_way(obj: object) -> None:
    try:
        parse_message(obj)
    except RpcError as e:
        assert e.code == ErrorCode.INVALID_REQUEST


def test_params_positional_and_named_forms_are_the_same() -> None:
    a = Params("event", ["enemy", 480], ("event", "at_frame"))
    b = Params("event", [{"at_frame": 480, "event": "enemy"}], ("event", "at_frame"))
    assert a.str("event") == b.str("event") == "enemy"
    assert a.int("at_frame", lo=0, hi=1000) == b.int("at_frame", lo=0, hi=1000) == 480


def test_params_errors_carry_codes_and_name_the_value() -> None:
    with pytest.raises(RpcError) as e:
        Params("render", [1, "f32", 3], ("frames", "format"))
    assert e.value.code == ErrorCode.INVALID_PARAMS and "at most 2" in e.value.message
    with pytest.raises(RpcError) as e:
        Params("render", [{"frame": 1}], ("frames", "format"))
    assert e.value.code == ErrorCode.INVALID_PARAMS and "unknown parameter 'frame'" in e.value.message
    with pytest.raises(RpcError) as e:
        Params("render", [], ("frames",)).int("frames", lo=1, hi=10)
    assert e.value.code == ErrorCode.INVALID_PARAMS and "missing parameter 'frames'" in e.value.message
    with pytest.raises(RpcError) as e:
        Params("render", [True], ("frames",)).int("frames", lo=1, hi=10)
    assert e.value.code == ErrorCode.INVALID_PARAMS and "must be an integer" in e.value.message
    with pytest.raises(RpcError) as e:
        Params("render", [11], ("frames",)).int("frames", lo=1, hi=10)
    assert e.value.code == ErrorCode.OUT_OF_RANGE and "frames=11 must be between 1 and 10" in e.value.message
    with pytest.raises(RpcError) as e:
        Params("set_param", ["x", float("nan")], ("name", "value")).number("value", lo=0, hi=1)
    assert e.value.code == ErrorCode.OUT_OF_RANGE and "finite" in e.value.message
    with pytest.raises(RpcError) as e:
        Params("render", [1, "f64"], ("frames", "format")).str("format", choices=("f32", "s16"))
    assert e.value.code == ErrorCode.OUT_OF_RANGE and "f32, s16" in e.value.message


def test_s16_rounds_and_clips_without_wrapping() -> None:
    x = np.array([[0.0, 1.0], [-1.0, 2.0], [-2.0, 0.6 / 32767]], dtype=np.float32)
    assert to_s16(x).tolist() == [[0, 32767], [-32767, 32767], [-32768, 1]]
    assert to_s16(x).dtype == np.dtype("<i2")


def test_encoded_request_is_the_published_form() -> None:
    assert msgpack.unpackb(encode_request(3, "render", [1024, "f32"])) == [0, 3, "render", [1024, "f32"]]


def test_tcp_addresses_are_loopback_unless_remote_is_allowed_with_a_token() -> None:
    assert parse_tcp_address("127.0.0.1:7700", allow_remote=False, token=None) == ("127.0.0.1", 7700)
    assert parse_tcp_address("[::1]:0", allow_remote=False, token=None) == ("::1", 0)
    assert parse_tcp_address("localhost:5", allow_remote=False, token=None) == ("localhost", 5)
    assert is_loopback("127.8.9.10") and not is_loopback("10.0.0.1")
    with pytest.raises(SoundtrackError, match="not a loopback address.*--allow-remote"):
        parse_tcp_address("0.0.0.0:7700", allow_remote=False, token=None)
    with pytest.raises(SoundtrackError, match="needs a token"):
        parse_tcp_address("0.0.0.0:7700", allow_remote=True, token=None)
    assert parse_tcp_address("0.0.0.0:7700", allow_remote=True, token="s3cret") == ("0.0.0.0", 7700)
    with pytest.raises(SoundtrackError, match="must look like"):
        parse_tcp_address("7700", allow_remote=False, token=None)
    with pytest.raises(SoundtrackError, match="between 0 and 65535"):
        parse_tcp_address("127.0.0.1:70000", allow_remote=False, token=None)
