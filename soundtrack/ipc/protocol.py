"""MessagePack-RPC framing, limits, error codes and parameter checking (no sockets here).

Messages follow the published msgpack-rpc spec:

- request ``[0, msgid, method, params]`` (msgid a uint32, params an array),
- response ``[1, msgid, error, result]`` (error is nil or a map ``{code, message[, data]}``),
- notification ``[2, method, params]``.

`params` is an array of positional arguments, or an array holding one map of named arguments
(``["enemy_spotted"]`` and ``[{"event": "enemy_spotted"}]`` mean the same). Untrusted bytes go
through `Decoder`, a streaming unpacker with hard limits on message size, string, bin, array and
map lengths and nesting depth; bytes it cannot parse poison that connection only.
"""

from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import msgpack

from soundtrack.errors import ProtocolError

PROTOCOL_VERSION = 1
HELLO_PARAMS = ("role", "version", "client", "token")  # hello's parameter order (server and session)
REQUEST, RESPONSE, NOTIFICATION = 0, 1, 2
MAX_MSGID = 2**32 - 1


class ErrorCode(enum.IntEnum):
    """Numbers carried in ``error.code``; docs/protocol.md lists when each is sent."""

    PARSE_ERROR = -32700  # bytes that are not msgpack (sent as an "error" notification, then close)
    MESSAGE_TOO_LARGE = -32701  # a message over the size limit (notification, then close)
    INVALID_REQUEST = -32600  # msgpack, but not a well-formed request
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602  # missing, unknown or wrongly typed parameters
    INTERNAL_ERROR = -32603  # a bug: the server logs it and keeps serving
    OUT_OF_RANGE = 1  # a well-typed value outside its valid range (frames, param value, ...)
    NOT_LOADED = 2  # the session has no bank loaded, or is not started
    NOT_CONTROLLER = 3  # a control method from a client that does not control the session
    UNAUTHORIZED = 4  # the server wants a token in `hello` first
    REJECTED = 5  # the engine refused: unknown event in this state, unknown state or parameter
    WRONG_MODE = 6  # e.g. `render` while the server plays to the sound card itself
    BUSY = 7  # a slow operation (load) is already running


class RpcError(ProtocolError):
    """An error that becomes an error response ``{code, message[, data]}``."""

    def __init__(self, code: ErrorCode, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": int(self.code), "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


@dataclass(frozen=True)
class Limits:
    """Hard limits on what a peer may send (bytes, elements, depth) and on what it may ask for."""

    max_message_bytes: int = 1 << 20
    max_str_len: int = 64 << 10
    max_bin_len: int = 1 << 20
    max_array_len: int = 4096
    max_map_len: int = 256
    max_depth: int = 16
    max_block_frames: int = 65536  # one `render` call
    max_outgoing_bytes: int = 8 << 20  # per client, then notifications drop / the client is cut off


DEFAULT_LIMITS = Limits()
_FEED_SLICE = 4096


class FramingError(ProtocolError):
    """Bytes that cannot be framed: the connection that sent them is closed."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Decoder:
    """Streaming msgpack decoder with hard limits: bytes in, whole messages out.

    The unpacker buffer is the message-size limit: a message larger than
    ``limits.max_message_bytes`` raises `FramingError` (MESSAGE_TOO_LARGE) before it is
    buffered whole. Malformed bytes raise `FramingError` (PARSE_ERROR); after either the
    decoder is unusable, because the stream has lost its framing.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        # A slice may hold the end of one message and the start of the next, so the buffer
        # may legitimately hold one slice more than the largest message.
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
        )

    def feed(self, data: bytes) -> Iterator[Any]:
        """Yield every complete message in `data` (and what was buffered before it)."""
        view = memoryview(data)
        for i in range(0, len(view), _FEED_SLICE):
            try:
                self._unpacker.feed(view[i : i + _FEED_SLICE])
            except msgpack.BufferFull:
                raise FramingError(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"message larger than the limit of {self.limits.max_message_bytes} bytes",
                ) from None
            while True:
                try:
                    obj = self._unpacker.unpack()
                except msgpack.OutOfData:
                    break
                except (ValueError, TypeError, msgpack.UnpackException) as e:
                    # FormatError, StackError, over-long containers, bad UTF-8, non-str map keys
                    raise FramingError(ErrorCode.PARSE_ERROR, f"unparseable msgpack: {type(e).__name__}: {e}") from None
                yield obj


def depth(obj: Any, limit: int) -> int:
    """Nesting depth of containers in `obj` (a scalar is 0), stopping once past `limit`."""
    best = 0
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, (list, dict)):
            d += 1
            if d > best:
                best = d
                if best > limit:
                    return best
            stack.extend((v, d) for v in (o.values() if isinstance(o, dict) else o))
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
            f"message type {kind!r} must be 0 (request) or 2 (notification); a client sends no responses",
        )
    if kind == REQUEST:
        if len(obj) != 4:
            raise RpcError(ErrorCode.INVALID_REQUEST, f"a request is [0, msgid, method, params], got {len(obj)} elements")
        if msgid is None:
            raise RpcError(ErrorCode.INVALID_REQUEST, f"msgid={obj[1]!r} must be an integer 0..{MAX_MSGID}")
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
    text = repr(v)
    return f"{type(v).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


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


class Params:
    """Named access to a request's params with checks that raise INVALID_PARAMS / OUT_OF_RANGE.

    ``names`` is the method's parameter order, so positional and named forms both work.
    Call `done()` last: it rejects parameters the method does not know.
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
                f"{method}: unknown parameter {unknown[0]!r}; valid: {', '.join(self.names) or 'none'}",
            )

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.values or self.values[name] is None:
            if required:
                raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: missing parameter {name!r}")
            return None
        return self.values[name]

    def str(self, name: str, *, required: bool = True, choices: Sequence[str] | None = None, default: str | None = None) -> Any:
        v = self._get(name, required)
        if v is None:
            return default
        if not isinstance(v, str):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be a string")
        if choices is not None and v not in choices:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={v!r} must be one of {', '.join(choices)}")
        return v

    def int(self, name: str, *, required: bool = True, lo: int | None = None, hi: int | None = None, default: int | None = None) -> Any:
        v = self._get(name, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, int):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be an integer")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={v} must be between {lo} and {hi}")
        return v

    def number(self, name: str, *, required: bool = True, lo: float | None = None, hi: float | None = None, default: float | None = None) -> Any:
        v = self._get(name, required)
        if v is None:
            return default
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be a number")
        if not math.isfinite(v):
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={v} must be finite")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={v} must be between {lo} and {hi}")
        return v

    def duration(self, name: str, *, required: bool = False) -> Any:
        """A number of beats, or a string such as "2 bars", "0.5s", "250ms"."""
        v = self._get(name, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be a number of beats or a string like '2 bars'")
        if isinstance(v, float) and not math.isfinite(v):
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name}={v} must be finite")
        return v

    def str_list(self, name: str, *, choices: Sequence[str], required: bool = False) -> Any:
        v = self._get(name, required)
        if v is None:
            return None
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise RpcError(ErrorCode.INVALID_PARAMS, f"{self.method}: {name}={_kind(v)} must be an array of strings")
        bad = [x for x in v if x not in choices]
        if bad:
            raise RpcError(ErrorCode.OUT_OF_RANGE, f"{self.method}: {name} has {bad[0]!r}; valid: {', '.join(choices)}")
        return v

    def done(self) -> None:
        """Nothing to check beyond construction; kept so handlers read top to bottom."""
