"""MessagePack-RPC framing, limits, error codes and parameter checking (no sockets here).

Messages follow the published msgpack-rpc spec:

- request ``[0, msgid, method, params]`` (msgid a uint32, params an array),
- response ``[1, msgid, error, result]`` (error is nil or a map ``{code, message[, data]}``),
- notification ``[2, method, params]``.

`params` is an array of positional arguments, or an array holding one map of named arguments
(``["enemy_spotted"]`` and ``[{"event": "enemy_spotted"}]`` mean the same). Untrusted bytes go
through `Decoder`, a streaming unpacker with hard limits on message size (counted as the bytes
arrive, partial containers included), string, bin, array and map lengths and nesting depth;
bytes it cannot parse poison that connection only. `Limits` holds every limit the server
enforces; docs/protocol.md's limits table is generated from its field docs.
"""

from __future__ import annotations

import builtins
import enum
import math
import re
import threading
from dataclasses import dataclass, field, fields
from fractions import Fraction
from typing import Any, Iterator, Sequence

import msgpack

from soundtrack.errors import FramingError, RpcError, SoundtrackError
from soundtrack.timing import Duration

PROTOCOL_VERSION = 1
REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2
MAX_MSGID = 2**32 - 1


class ErrorCode(enum.IntEnum):
    """Numbers carried in ``error.code``; `soundtrack.ipc.schema.ERRORS` says when each is sent."""

    PARSE_ERROR = -32700
    MESSAGE_TOO_LARGE = -32701
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    OUT_OF_RANGE = 1
    NOT_LOADED = 2
    NOT_CONTROLLER = 3
    UNAUTHORIZED = 4
    REJECTED = 5
    WRONG_MODE = 6
    BUSY = 7
    NOT_READY = 8
    TIMEOUT = 9


def _limit(default: Any, doc: str, unit: str = "") -> Any:
    return field(default=default, metadata={"doc": doc, "unit": unit})


@dataclass(frozen=True)
class Limits:
    """Hard limits on what a peer may send (bytes, elements, depth), on what it may ask for, and
    on connections. Every field is documented in docs/protocol.md (generated from these docs)."""

    max_message_bytes: int = _limit(1 << 20, "one message, counted as its bytes arrive (containers in progress included): `MESSAGE_TOO_LARGE` notification, then close", "bytes")
    max_str_len: int = _limit(64 << 10, "one string: `PARSE_ERROR` notification, then close", "bytes")
    max_bin_len: int = _limit(1 << 20, "one bin: `PARSE_ERROR` notification, then close", "bytes")
    max_array_len: int = _limit(4096, "one array: `PARSE_ERROR` notification, then close", "elements")
    max_map_len: int = _limit(256, "one map: `PARSE_ERROR` notification, then close", "pairs")
    max_elements: int = _limit(8192, "array items and map pairs in one message, all levels together (parsing and checking a message costs the server that many steps at most): `PARSE_ERROR` notification, then close", "elements")
    max_depth: int = _limit(16, "containers nested in one message: `INVALID_REQUEST` response (the message parsed, so the connection stays)", "levels")
    max_block_frames: int = _limit(65536, "`render` frames (1..this): `OUT_OF_RANGE`", "frames")
    max_outgoing_bytes: int = _limit(8 << 20, "queued for one client: its notifications are dropped; a response that does not fit disconnects it", "bytes")
    max_inbox_bytes: int = _limit(256 << 10, "requests read from one monitor and not yet served: the server stops reading from it until they are", "bytes")
    max_connections: int = _limit(64, "connections at once: one more gets a `BUSY` error notification and is closed", "connections")
    handshake_timeout: float = _limit(10.0, "for a new connection's first complete message (with a token: its `hello` with the token): `TIMEOUT` notification, then close", "s")
    message_timeout: float = _limit(10.0, "from a message's first byte to its last (slowloris): `TIMEOUT` notification, then close", "s")
    idle_timeout: float = _limit(600.0, "without a message from a client other than the controller or a stdio parent (`ping` keeps a connection alive): `TIMEOUT` notification, then close", "s")
    auth_failures_burst: int = _limit(10, "failed `hello` tokens the server answers at once; after that, failures are answered at `auth_failures_per_s`, every `hello` with a token waiting its turn, and each failure closes its connection", "failures")
    auth_failures_per_s: float = _limit(2.0, "failed `hello` tokens per second, server-wide, once the burst is spent", "per s")
    max_sessions: int = _limit(8, "music instances per server (`open_session`): `BUSY`", "sessions")
    max_path_len: int = _limit(1024, "`load` / `open_session` path: `OUT_OF_RANGE`", "characters")
    max_duration_bars: int = _limit(64, "a fade, ramp or interval given in bars or beats (beats count against the bars of the grid it is measured on): `OUT_OF_RANGE`", "bars")
    max_duration_seconds: float = _limit(60.0, "a fade, ramp or interval given in seconds or ms: `OUT_OF_RANGE`", "s")
    max_at_frame_seconds: int = _limit(3600, "how far ahead `event(at_frame)` may post: `OUT_OF_RANGE`", "s")
    min_volume_db: float = _limit(-120.0, "`volume` floor (at or below: silence): `OUT_OF_RANGE` below", "dB")
    max_volume_db: float = _limit(12.0, "`volume` ceiling (before the safety limiter, so it cannot clip): `OUT_OF_RANGE` above", "dB")

    def table(self) -> list[tuple[str, Any, str, str]]:
        """(name, value, unit, doc) for every limit, in declaration order."""
        return [(f.name, getattr(self, f.name), f.metadata.get("unit", ""), f.metadata.get("doc", "")) for f in fields(self)]


DEFAULT_LIMITS = Limits()
_FEED_SLICE = 4096


class _TooManyElements(Exception):
    """Raised inside the unpacker's hooks to stop a message with too many elements."""


class Decoder:
    """Streaming msgpack decoder with hard limits: bytes in, whole messages out, one at a time.

    `push` keeps raw bytes (cheap: nothing is parsed); `next` parses the next message, feeding
    the unpacker 4 KiB at a time, so a server decides how much parsing it does when. The
    message-size limit counts every byte since the end of the last whole message, including
    what the unpacker has already turned into objects of a container still in progress (a
    100 MB array of 1 MiB bins is refused at its first MiB, not parsed). A message over
    ``limits.max_message_bytes`` raises `FramingError` (MESSAGE_TOO_LARGE); malformed bytes
    raise `FramingError` (PARSE_ERROR); after either the decoder is unusable, because the
    stream has lost its framing.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._elements = 0  # array items and map pairs of the message in progress
        self._unpacker = msgpack.Unpacker(
            raw=False,
            use_list=True,
            strict_map_key=True,
            max_buffer_size=limits.max_message_bytes + _FEED_SLICE,
            max_str_len=limits.max_str_len,
            max_bin_len=limits.max_bin_len,
            max_array_len=limits.max_array_len,
            max_map_len=limits.max_map_len,
            max_ext_len=1024,
            list_hook=self._count,
            object_hook=self._count,
        )
        self._raw = bytearray()
        self._off = 0  # bytes of _raw already given to the unpacker
        self._fed = 0  # bytes given to the unpacker in all
        self._start = 0  # stream offset where the message in progress began
        self.exhausted = True  # `next` found no whole message, and nothing was pushed since

    @property
    def buffered(self) -> int:
        """Raw bytes pushed and not yet parsed."""
        return len(self._raw) - self._off

    @property
    def pending(self) -> int:
        """Bytes of the message in progress that the unpacker holds (0 between messages)."""
        return self._fed - self._start

    @property
    def idle(self) -> bool:
        """Nothing buffered and no message in progress."""
        return self.buffered == 0 and self.pending == 0

    @property
    def incomplete(self) -> bool:
        """Every byte pushed is parsed and a message is still unfinished: waiting on the peer."""
        return self.buffered == 0 and self.pending > 0 and self.exhausted

    def _count(self, container: Any) -> Any:
        # called by the unpacker for every array and map as it is built (innermost first): a
        # megabyte of empty arrays is a million objects, so the count stops it early
        self._elements += len(container) + 1
        if self._elements > self.limits.max_elements:
            raise _TooManyElements
        return container

    def push(self, data: bytes) -> None:
        if self._off > 65536 and self._off * 2 > len(self._raw):
            del self._raw[: self._off]
            self._off = 0
        self._raw += data
        self.exhausted = False

    def next(self) -> tuple[Any, int] | None:
        """The next whole message and its size in bytes, or None until more bytes are pushed."""
        limit = self.limits.max_message_bytes
        while True:
            try:
                obj = self._unpacker.unpack()
            except msgpack.OutOfData:
                if self._off >= len(self._raw):
                    self.exhausted = True
                    return None
                piece = bytes(self._raw[self._off : self._off + _FEED_SLICE])
                self._off += len(piece)
                try:
                    self._unpacker.feed(piece)
                except msgpack.BufferFull:
                    raise self._too_large() from None
                self._fed += len(piece)
                if self._fed - self._start > limit:
                    raise self._too_large() from None
                continue
            except _TooManyElements:
                raise FramingError(ErrorCode.PARSE_ERROR, f"a message with more than {self.limits.max_elements} "
                                   "array items and map pairs (max_elements)") from None
            except (ValueError, TypeError, msgpack.UnpackException) as e:
                # FormatError, StackError, over-long containers, bad UTF-8, non-str map keys
                text = f"{type(e).__name__}: {e}"
                raise FramingError(ErrorCode.PARSE_ERROR, f"unparseable msgpack: {text[:120]}") from None
            self._elements = 0
            end = self._unpacker.tell()
            size, self._start = end - self._start, end
            if size > limit:
                raise self._too_large()
            return obj, size

    def feed(self, data: bytes) -> Iterator[tuple[Any, int]]:
        """Push `data` and yield (message, size) for every whole message now available."""
        self.push(data)
        while (item := self.next()) is not None:
            yield item

    def _too_large(self) -> FramingError:
        return FramingError(ErrorCode.MESSAGE_TOO_LARGE, f"message larger than the limit of {self.limits.max_message_bytes} bytes")


def depth(obj: Any, limit: int) -> int:
    """Nesting depth of containers in `obj` (a scalar is 0), stopping once past `limit`. Only
    containers are visited (the Decoder bounds how many elements a message has)."""
    if not isinstance(obj, (list, dict)):
        return 0
    best = 0
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if d > best:
            best = d
            if best > limit:
                return best
        for v in (o.values() if isinstance(o, dict) else o):
            if isinstance(v, (list, dict)):
                stack.append((v, d + 1))
    return best


@dataclass(frozen=True)
class Request:
    msgid: int | None  # None for a notification from the client (no response is sent)
    method: str
    params: list[Any]


def parse_message(obj: Any, limits: Limits = DEFAULT_LIMITS) -> Request:
    """Check one decoded message's shape; raise RpcError(INVALID_REQUEST) naming what is wrong.

    The error carries ``data = {"msgid": id}`` when a msgid could be read, so the server can
    answer with a response; otherwise it answers with an ``error`` notification.
    """
    if not isinstance(obj, list) or not obj:
        raise RpcError(ErrorCode.INVALID_REQUEST, f"a message must be a non-empty array, got {_kind(obj)}")
    kind = obj[0]
    msgid = None
    if kind == REQUEST and not isinstance(kind, bool) and len(obj) == 4:
        mid = obj[1]
        if isinstance(mid, int) and not isinstance(mid, bool) and 0 <= mid <= MAX_MSGID:
            msgid = mid
    where = {"msgid": msgid} if msgid is not None else None
    if depth(obj, limits.max_depth) > limits.max_depth:
        raise RpcError(ErrorCode.INVALID_REQUEST, f"message nested deeper than {limits.max_depth} levels", where)
    if isinstance(kind, bool) or kind not in (REQUEST, NOTIFICATION):
        raise RpcError(
            ErrorCode.INVALID_REQUEST,
            f"message type {_text(kind)} must be 0 (request) or 2 (notification); a client sends no responses",
        )
    if kind == REQUEST:
        if len(obj) != 4:
            raise RpcError(ErrorCode.INVALID_REQUEST, f"a request is [0, msgid, method, params], got {len(obj)} elements")
        if msgid is None:
            raise RpcError(ErrorCode.INVALID_REQUEST, f"msgid={_text(obj[1])} must be an integer 0..{MAX_MSGID}")
        method, params = obj[2], obj[3]
    else:
        if len(obj) != 3:
            raise RpcError(ErrorCode.INVALID_REQUEST, f"a notification is [2, method, params], got {len(obj)} elements")
        method, params = obj[1], obj[2]
    if not isinstance(method, str) or not method:
        raise RpcError(ErrorCode.INVALID_REQUEST, f"method must be a non-empty string, got {_kind(method)}", where)
    if not isinstance(params, list):
        raise RpcError(ErrorCode.INVALID_REQUEST, f"params must be an array, got {_kind(params)}", where)
    return Request(msgid, method, params)


def _kind(v: Any) -> str:
    """A value as messages echo it: its type and at most 40 characters of it."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return f"{type(v).__name__} of {len(v)} bytes"
    if isinstance(v, (list, dict)) and len(v) > 8:
        return f"{type(v).__name__} of {len(v)} items"
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10**40:
        return "int of more than 40 digits"
    text = repr(v)
    return f"{type(v).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _text(v: Any) -> str:
    """`v` for a message: repr, cut to 40 characters."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10**40:
        return "an int of more than 40 digits"
    text = repr(v)
    return text if len(text) <= 40 else text[:40] + "..."


# -- encoding -----------------------------------------------------------------------------------

def _default(o: Any) -> Any:
    # numpy scalars and Fractions reach results through the sequencer's plans
    import numbers

    if isinstance(o, numbers.Integral):
        return int(o)
    if isinstance(o, numbers.Real):
        return float(o)
    raise TypeError(f"cannot encode {type(o).__name__} for the wire")


_packers = threading.local()


def pack(obj: Any) -> bytes:
    # One Packer per thread, kept: `msgpack.packb` makes a new one per call, and its 256 KiB
    # buffer is a fresh mmap each time, whose page faults cost more than packing a block.
    packer = getattr(_packers, "packer", None)
    if packer is None:
        packer = _packers.packer = msgpack.Packer(use_bin_type=True, default=_default)
    try:
        return packer.pack(obj)
    except BaseException:
        packer.reset()  # a failed pack leaves partial output in the buffer
        raise


def encode_request(msgid: int, method: str, params: Sequence[Any]) -> bytes:
    return pack([REQUEST, msgid, method, list(params)])


def encode_response(msgid: int, error: dict[str, Any] | None, result: Any) -> bytes:
    return pack([RESPONSE, msgid, error, result])


def encode_notification(method: str, params: Sequence[Any]) -> bytes:
    return pack([NOTIFICATION, method, list(params)])


# -- parameters ---------------------------------------------------------------------------------

_DURATION_RE = re.compile(r"\s*([0-9]{1,9}(?:\.[0-9]{1,9})?)\s*(beats?|bars?|s|sec|secs|seconds?|ms)?\s*", re.IGNORECASE)


class Params:
    """Named access to a request's params with checks that raise INVALID_PARAMS / OUT_OF_RANGE.

    ``names`` is the method's parameter order (from the schema), so positional and named forms
    both work; parameters the method does not know are refused at construction.
    """

    def __init__(self, method: str, params: list[Any], names: Sequence[str]) -> None:
        self.method = method
        self.names = tuple(names)
        if len(params) == 1 and isinstance(params[0], dict):
            self.values = dict(params[0])
            unknown = [k for k in self.values if k not in self.names]
        else:
            if len(params) > len(self.names):
                raise RpcError(
                    ErrorCode.INVALID_PARAMS,
                    f"{method} takes at most {len(self.names)} parameters ({', '.join(self.names) or 'none'}), "
                    f"got {len(params)}",
                )
            self.values = dict(zip(self.names, params))
            unknown = []
        if unknown:
            raise RpcError(
                ErrorCode.INVALID_PARAMS,
                f"{method}: unknown parameter {_text(unknown[0])}; valid: {', '.join(self.names) or 'none'}",
            )

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.values or self.values[name] is None:
            if required:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: missing parameter {name!r}")
            return None
        return self.values[name]

    def str(self, name: str, *, required: bool = True, choices: Sequence[str] | None = None, default: str | None = None,
            max_len: int | None = None) -> Any:
        v = self._get(name, required)
        if v is None:
            return default
        if not isinstance(v, str):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be a string")
        if max_len is not None and len(v) > max_len:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name} is {len(v)} characters long; at most {max_len}")
        if choices is not None and v not in choices:
            listed = ", ".join(choices) if len(choices) <= 40 else ", ".join(list(choices)[:40]) + ", ..."
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={_text(v)} must be one of {listed}")
        return v

    def int(self, name: builtins.str, *, required: builtins.bool = True, lo: builtins.int | None = None, hi: builtins.int | None = None, default: builtins.int | None = None) -> Any:
        v = self._get(name, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be an integer")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={_text(v)} must be between {lo} and {hi}")
        return v

    def number(self, name: builtins.str, *, required: builtins.bool = True, lo: float | None = None, hi: float | None = None, default: float | None = None) -> Any:
        v = self._get(name, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be a number")
        if isinstance(v, int) and abs(v) > 2**53:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={_text(v)} must be between {lo:g} and {hi:g}")
        if not math.isfinite(v):
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={v} must be finite")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={_text(v)} must be between {lo:g} and {hi:g}")
        return v

    def bool(self, name: builtins.str, *, default: builtins.bool = False) -> builtins.bool:
        v = self._get(name, False)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be true or false")
        return v

    def map(self, name: builtins.str, *, required: builtins.bool = True) -> Any:
        v = self._get(name, required)
        if v is None:
            return None
        if not isinstance(v, dict):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be a map")
        return v

    def duration(self, name: builtins.str, *, limits: Limits, beats_per_bar: builtins.int = 4, required: builtins.bool = False) -> Duration | None:
        """A number of beats, or a string such as "2 bars", "0.5s", "250ms", within the limits:
        at most `limits.max_duration_bars` bars (beats counted against `beats_per_bar`), at most
        `limits.max_duration_seconds` seconds. Returns a `Duration` the sequencer converts."""
        v = self._get(name, required)
        if v is None:
            return None
        bad = f"{self.method}: {name}={_kind(v)} must be a number of beats or a string like '2 bars', '3 beats', '0.5s', '250ms'"
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise RpcError(ErrorCode.INVALID_PARAMS, bad)
        bars, secs = limits.max_duration_bars, limits.max_duration_seconds
        too_long = (f"{self.method}: {name}={_text(v)} is too long; at most {bars} bars "
                    f"({bars * beats_per_bar} beats here) or {secs:g} s")
        if isinstance(v, str):
            m = _DURATION_RE.fullmatch(v) if len(v) <= 40 else None
            if m is None:
                raise RpcError(ErrorCode.OUT_OF_RANGE, bad)
            amount = Fraction(m.group(1))
            unit = (m.group(2) or "").lower()
            if unit == "ms":
                d = Duration(amount / 1000, "seconds")
            elif unit.startswith("bar"):
                d = Duration(amount, "bars")
            elif unit.startswith("beat") or unit == "":
                d = Duration(amount, "beats")
            else:
                d = Duration(amount, "seconds")
        else:
            if isinstance(v, float) and not math.isfinite(v):
                raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={v} must be finite")
            if v < 0:
                raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={_text(v)} must not be negative")
            if v > bars * beats_per_bar:
                raise RpcError(ErrorCode.OUT_OF_RANGE, too_long)
            d = Duration(Fraction(v).limit_denominator(1 << 20), "beats")
        if ((d.unit == "bars" and d.amount > bars) or (d.unit == "beats" and d.amount > bars * beats_per_bar)
                or (d.unit == "seconds" and d.amount > Fraction(secs))):
            raise RpcError(ErrorCode.OUT_OF_RANGE, too_long)
        return d

    def str_list(self, name: builtins.str, *, choices: Sequence[builtins.str], required: builtins.bool = False) -> Any:
        v = self._get(name, required)
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be an array of strings")
        bad = [x for x in v if x not in choices]
        if bad:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name} has {_text(bad[0])}; valid: {', '.join(choices)}")
        return v


def as_rpc_error(method: str, exc: BaseException) -> RpcError | None:
    """The error response `exc` from `method` becomes: its own code for an RpcError, REJECTED
    for an engine error (SoundtrackError), OUT_OF_RANGE for input too large, too long or too
    deep for something below the edge checks (ValueError, ArithmeticError, MemoryError,
    RecursionError); None for anything else: a bug (INTERNAL_ERROR)."""
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, SoundtrackError):
        return RpcError(ErrorCode.REJECTED, _cut(f"{method}: {exc}"))
    if isinstance(exc, (ValueError, ArithmeticError, MemoryError, RecursionError)):
        return RpcError(ErrorCode.OUT_OF_RANGE, _cut(f"{method}: a parameter is out of range ({type(exc).__name__}: {exc})"))
    return None


def _cut(text: str, n: int = 300) -> str:
    return text if len(text) <= n else text[:n] + "..."


@dataclass
class Deferred:
    """A handler's answer whose slow part (`work`: file I/O, decoding) runs in a worker thread;
    then `finish(value)` runs on the loop and gives the result. `cleanup` runs on the loop
    afterwards, whether it worked or not. The connection's later requests wait for it."""

    work: Any  # Callable[[], T]
    finish: Any  # Callable[[T], result]
    cleanup: Any = None  # Callable[[], None] | None
