"""A small blocking Python client for `soundtrack serve` (TCP, Unix socket, or a child over stdio).

    with Client.tcp("127.0.0.1", 7700) as c:
        c.hello(role="controller")
        c.load()
        c.start()
        plan = c.event("enemy_spotted")      # {"from", "to", "edit_frame", "bar", "beat", ...}
        audio, block = c.render(1024)        # float32 (1024, channels), block["frame"] = its first frame
        for audio, block in c.render_stream(1024, in_flight=2): ...  # pipelined pulls
        for kind, payload in c.take_notifications(): ...

Notifications that arrive while a call waits for its response are kept, in order, for
`take_notifications()` / `wait_notification()`.
"""

from __future__ import annotations

import collections
import socket
import subprocess
import time
from typing import Any, Iterator, Sequence

import msgpack
import numpy as np

from soundtrack.errors import ProtocolError, RemoteError
from soundtrack.ipc.protocol import NOTIFICATION, PROTOCOL_VERSION, RESPONSE, ErrorCode, encode_request


def _code_name(error: Any) -> str | None:
    try:
        return ErrorCode(int(error["code"])).name if isinstance(error, dict) else None
    except (KeyError, ValueError, TypeError):
        return None


class Client:
    """One connection to a server. Not thread-safe: use one Client per thread."""

    def __init__(self, reader: Any, writer: Any, *, closer: Any = None, timeout: float | None = 30.0) -> None:
        self._read = reader  # callable(n) -> bytes ("" at EOF)
        self._write = writer  # callable(bytes)
        self._closer = closer
        self.timeout = timeout
        self._unpacker = msgpack.Unpacker(raw=False, max_buffer_size=64 << 20)
        self._next_id = 0
        self._notes: collections.deque[tuple[str, Any]] = collections.deque()
        self._responses: dict[int, list[Any]] = {}
        self.closed = False

    # -- connecting -----------------------------------------------------------------------------
    @classmethod
    def tcp(cls, host: str = "127.0.0.1", port: int = 7700, *, timeout: float | None = 30.0) -> Client:
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock.recv, sock.sendall, closer=sock, timeout=timeout)

    @classmethod
    def unix(cls, path: str, *, timeout: float | None = 30.0) -> Client:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(path))
        return cls(sock.recv, sock.sendall, closer=sock, timeout=timeout)

    @classmethod
    def spawn(cls, args: Sequence[str], *, timeout: float | None = 30.0, stderr: Any = None) -> Client:
        """Start ``args`` (e.g. ``[sys.executable, "-m", "soundtrack", "serve", BANK, "--stdio"]``)
        as a child process and talk to it over its stdin/stdout."""
        proc = subprocess.Popen(list(args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=0)
        assert proc.stdin is not None and proc.stdout is not None  # PIPE was asked for

        def write(data: bytes) -> None:
            proc.stdin.write(data)  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]

        client = cls(proc.stdout.read, write, closer=proc, timeout=timeout)
        client.process = proc  # type: ignore[attr-defined]
        return client

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        c = self._closer
        if isinstance(c, socket.socket):
            c.close()
        elif isinstance(c, subprocess.Popen):
            if c.stdin:
                c.stdin.close()
            try:
                c.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
            if c.stdout:
                c.stdout.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- calling --------------------------------------------------------------------------------
    def send(self, method: str, params: Sequence[Any]) -> int:
        """Send a request without waiting; returns its msgid (see `result`)."""
        self._next_id = (self._next_id + 1) & 0xFFFFFFFF
        self._write(encode_request(self._next_id, method, params))
        return self._next_id

    def result(self, msgid: int, method: str = "call") -> Any:
        """Wait for the response to `msgid`; raise RemoteError on an error response."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while msgid not in self._responses:
            self._pump(deadline)
        error, result = self._responses.pop(msgid)
        if error is not None:
            raise RemoteError(method, error, code_name=_code_name(error))
        return result

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call `method` with positional args, or with named args (sent as one map)."""
        if args and kwargs:
            raise TypeError("call() takes positional or keyword arguments, not both")
        params = [{k: v for k, v in kwargs.items() if v is not None}] if kwargs else list(args)
        return self.result(self.send(method, params), method)

    def _pump(self, deadline: float | None) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("no response from the server in time")
        data = self._read(1 << 16)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._unpacker.feed(data)
        for msg in self._unpacker:
            if not isinstance(msg, list) or not msg:
                raise ProtocolError(f"server sent a malformed message: {msg!r:.80}")
            if msg[0] == RESPONSE and len(msg) == 4:
                self._responses[msg[1]] = [msg[2], msg[3]]
            elif msg[0] == NOTIFICATION and len(msg) == 3:
                payload = msg[2][0] if isinstance(msg[2], list) and len(msg[2]) == 1 else msg[2]
                self._notes.append((msg[1], payload))
            else:
                raise ProtocolError(f"server sent a malformed message: {msg!r:.80}")

    # -- notifications --------------------------------------------------------------------------
    def take_notifications(self) -> list[tuple[str, Any]]:
        """Every notification received so far, oldest first: (kind, payload)."""
        out = list(self._notes)
        self._notes.clear()
        return out

    def wait_notification(self, timeout: float = 5.0) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while not self._notes:
            self._pump(deadline)
        return self._notes.popleft()

    # -- the methods ----------------------------------------------------------------------------
    def hello(self, *, role: str = "controller", token: str | None = None, client: str = "soundtrack-python",
              take: bool = False) -> dict[str, Any]:
        """`take=True` takes control from the client that has it (a game reconnecting)."""
        return self.call("hello", role=role, token=token, client=client, version=PROTOCOL_VERSION, take=take or None)

    def load(self, path: str | None = None, *, seed: int | None = None) -> dict[str, Any]:
        return self.call("load", path=path, seed=seed) if (path or seed is not None) else self.call("load")

    def start(self, state: str | None = None) -> dict[str, Any]:
        return self.call("start", state) if state else self.call("start")

    def event(self, event: str, *, at_frame: int | None = None) -> dict[str, Any]:
        return self.call("event", event=event, at_frame=at_frame)

    def set_param(self, name: str, value: float, *, ramp: float | str | None = None) -> dict[str, Any]:
        return self.call("set_param", name=name, value=value, ramp=ramp)

    def render(self, frames: int, *, format: str = "f32") -> tuple[np.ndarray, dict[str, Any]]:
        """The next `frames` frames as float32 (frames, channels) (int16 if format="s16"), and
        the block's info (frame, frames, channels, format, markers)."""
        return _block(self.call("render", frames, format))

    def render_stream(self, frames: int, *, in_flight: int = 2, format: str = "f32") -> Iterator[tuple[np.ndarray, dict[str, Any]]]:
        """Blocks of `frames` frames, in order, forever, like `render`, with `in_flight` render
        requests kept outstanding (msgpack-rpc pipelines by msgid), so the round trip of one
        block overlaps the server's work on the next. ``in_flight=1`` is lock step.

        The session's clock runs up to `in_flight` - 1 blocks ahead of the block handed over:
        an `event` sent meanwhile lands that much later in what you hear (its plan's frames say
        exactly where). Closing the generator reads and discards the responses still owed.
        """
        if isinstance(in_flight, bool) or not isinstance(in_flight, int) or in_flight < 1:
            raise ValueError(f"render_stream: in_flight={in_flight!r} must be an integer >= 1")
        params = [frames, format]
        pending = collections.deque(self.send("render", params) for _ in range(in_flight))
        try:
            while True:
                block = _block(self.result(pending.popleft(), "render"))
                yield block
                pending.append(self.send("render", params))
        finally:
            while pending and not self.closed:
                try:
                    self.result(pending.popleft(), "render")
                except RemoteError:
                    pass

    def subscribe(self, kinds: Sequence[str] | None = None) -> dict[str, Any]:
        return self.call("subscribe", list(kinds)) if kinds else self.call("subscribe")

    def status(self) -> dict[str, Any]:
        return self.call("status")

    def stop(self, *, fade: float | str | None = None) -> dict[str, Any]:
        return self.call("stop", fade=fade) if fade is not None else self.call("stop")

    def pause(self, *, fade: float | str | None = None, session: int | None = None) -> dict[str, Any]:
        return self.call("pause", fade=fade, session=session) if (fade is not None or session) else self.call("pause")

    def resume(self, *, fade: float | str | None = None, session: int | None = None) -> dict[str, Any]:
        return self.call("resume", fade=fade, session=session) if (fade is not None or session) else self.call("resume")

    def volume(self, db: float, *, ramp: float | str | None = None, session: int | None = None) -> dict[str, Any]:
        return self.call("volume", db=db, ramp=ramp, session=session)

    def snapshot(self, *, session: int | None = None) -> dict[str, Any]:
        """The session's position: keep ``result["snapshot"]`` (JSON-safe) and give it to `restore`."""
        return self.call("snapshot", session=session) if session else self.call("snapshot")

    def restore(self, snapshot: dict[str, Any], *, session: int | None = None) -> dict[str, Any]:
        return self.call("restore", snapshot=snapshot, session=session)

    def open_session(self, *, path: str | None = None, seed: int | None = None) -> dict[str, Any]:
        return self.call("open_session", path=path, seed=seed) if (path or seed is not None) else self.call("open_session")

    def close_session(self, session: int) -> dict[str, Any]:
        return self.call("close_session", session)

    def shutdown(self) -> dict[str, Any]:
        return self.call("shutdown")

    def ping(self, payload: Any = None) -> Any:
        return self.call("ping", payload)


def _block(r: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """A `render` result as (audio (frames, channels) float32 or int16, the rest of the result)."""
    dtype = "<f4" if r["format"] == "f32" else "<i2"
    audio = np.frombuffer(r.pop("pcm"), dtype=dtype).reshape(r["frames"], r["channels"])
    return audio, r
