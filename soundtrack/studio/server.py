"""`soundtrack studio`: the aiohttp app. One page, its ES modules, and a WebSocket per page.

The event loop only moves messages. Every engine call (render, post, set_param, ...) runs on one
engine thread (`StudioSession` is not thread-safe and needs none); bank builds and regenerations
on a build thread (generation itself in a worker process, see `builds`); writing takes and
reading stems for an audition on an I/O thread.

**Streaming.** The page that pressed Play is the player. The server renders blocks of `block`
frames and sends each as a binary message (24-byte header: u32 kind (1 = session PCM, 2 = an
audition), u32 channels, u32 frames, u32 0, f64 session frame of the first frame; then
little-endian float32, interleaved), followed by a JSON ``tick`` with the markers that fell in
the block. The page's AudioWorklet reports how many frames it has played (``clock``, about every
21 ms), and the server keeps at most `buffer_ms` of audio ahead of that: the page's jitter buffer.

**Safety.** Loopback only unless `allow_remote`, which needs a token ($SOUNDTRACK_TOKEN or a
token file, at least 16 characters, as for `soundtrack serve`); with a token every request needs
it (``?token=`` once, then an HttpOnly SameSite=Strict cookie). On loopback the Host header must
name the loopback address and port (no DNS rebinding), and a WebSocket's Origin must be the page's
own (no other site in the browser can drive the studio). Client messages are size-capped JSON
with a fixed set of ops; a bad one gets an error reply and the connection goes on.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import ipaddress
import json
import logging
import os
import re
import stat
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from aiohttp import WSMsgType, web

from soundtrack.errors import SoundtrackError, StudioError
from soundtrack.studio import DEFAULT_BUFFER_MS, DEFAULT_PORT, DEFAULT_TAKES
from soundtrack.studio.builds import Builder
from soundtrack.studio.session import StudioSession, Version
from soundtrack.studio.take import save_take

log = logging.getLogger("soundtrack.studio")

STATIC = Path(__file__).with_name("static")
DEFAULT_BLOCK = 1024
MAX_BUFFER_MS = 2000
MAX_MESSAGE_BYTES = 64 * 1024
MAX_AUDITION_SECONDS = 60
SWITCH_INTERVAL = 0.001
TOKEN_ENV = "SOUNDTRACK_TOKEN"
MIN_TOKEN_CHARS = 16
COOKIE = "soundtrack_studio"
HEADER = struct.Struct("<IIIId")
KIND_PCM, KIND_AUDITION = 1, 2
_TAKE_RE = re.compile(r"^[A-Za-z0-9_.\-]+\.(wav|toml)$")
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml",
                  ".png": "image/png", ".json": "application/json"}


def read_token(*, token_file: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The token from `token_file` (its first line) or $SOUNDTRACK_TOKEN, as `soundtrack serve`
    reads it: never from argv (every local user can read /proc/PID/cmdline); 16-4096 characters."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        f = Path(token_file)
        try:
            if not f.is_file():
                raise StudioError(f"--token-file {f}: not a regular file")
            mode = f.stat().st_mode
            lines = f.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise StudioError(f"--token-file {f}: cannot read it ({e.strerror or e})") from None
        token = lines[0].strip() if lines else ""
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("--token-file %s can be read by other users (chmod 600 it)", f)
    else:
        token = env.get(TOKEN_ENV, "").strip()
        if not token:
            return None
    if not MIN_TOKEN_CHARS <= len(token) <= 4096:
        raise StudioError(f"the token must be {MIN_TOKEN_CHARS} to 4096 characters long, got {len(token)}; "
                          "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return token


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_address(host: str, port: int, *, allow_remote: bool, token: str | None) -> None:
    """Refuse a non-loopback host unless `allow_remote`, and then only with a token."""
    if not 0 <= port <= 65535:
        raise StudioError(f"--port {port} must be between 0 and 65535")
    if not is_loopback(host):
        if not allow_remote:
            raise StudioError(f"--host {host!r} is not a loopback address; the studio listens on 127.0.0.1 or ::1 only "
                              "unless --allow-remote is given (with a token: SOUNDTRACK_TOKEN or --token-file)")
        if not token:
            raise StudioError(f"--host {host!r} with --allow-remote needs a token (SOUNDTRACK_TOKEN or --token-file) "
                              "so strangers cannot drive it")


@dataclass
class _Client:
    ws: web.WebSocketResponse
    n: int
    played: int = 0
    sent: int = 0
    underruns: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    session: int = 0  # the take number whose audio this client is being sent


class Studio:
    """The studio server for one graph; `start()` listens, `close()` stops everything."""

    def __init__(self, graph: str | Path, *, bank: str | Path | None = None, takes: str | Path = DEFAULT_TAKES,
                 host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None, allow_remote: bool = False,
                 seed: int | None = None, block: int = DEFAULT_BLOCK, buffer_ms: int = DEFAULT_BUFFER_MS,
                 say: Callable[[str], None] | None = None) -> None:
        check_address(host, port, allow_remote=allow_remote, token=token)
        if not 128 <= block <= 16384:
            raise StudioError(f"--block {block} must be between 128 and 16384 frames")
        if not 20 <= buffer_ms <= MAX_BUFFER_MS:
            raise StudioError(f"--buffer {buffer_ms} must be between 20 and {MAX_BUFFER_MS} ms")
        self.graph_path = Path(graph)
        self.takes = Path(takes)
        self.host, self.port = host, port
        self.token = token
        self.allow_remote = allow_remote
        self.seed = seed
        self.block = block
        self.buffer_ms = buffer_ms
        self.say = say or (lambda m: log.info("%s", m))
        self.builder = Builder(self.graph_path, bank=bank)
        self.session: StudioSession | None = None
        self.phase = "preparing"
        self.phase_detail: dict[str, Any] = {"message": "opening the graph and its bank"}
        self.clients: dict[int, _Client] = {}
        self.player: _Client | None = None
        self._ids = 0
        self._engine = ThreadPoolExecutor(1, thread_name_prefix="studio-engine")
        self._build = ThreadPoolExecutor(1, thread_name_prefix="studio-build")
        self._io = ThreadPoolExecutor(1, thread_name_prefix="studio-io")
        self._streamer: asyncio.Task | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._static = {p.relative_to(STATIC).as_posix(): p for p in STATIC.rglob("*") if p.is_file()}
        self.url = ""
        self.stats = {"blocks": 0, "frames": 0, "render_seconds": 0.0, "started": time.monotonic()}

    # -- lifecycle --------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=MAX_MESSAGE_BYTES)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/static/{path:.+}", self._static_file)
        app.router.add_get("/takes/{name}", self._take_file)
        return app

    async def start(self) -> str:
        """Listen (the bank is opened in the background) and return the page's URL."""
        self._loop = asyncio.get_running_loop()
        # Three threads share the GIL (the loop, the engine, builds and I/O): hand it over every
        # 1 ms rather than 5 ms, so a busy thread delays a block's render by at most that much.
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}/"
        self._loop.run_in_executor(self._build, self._prepare)
        return self.url

    async def close(self) -> None:
        for c in list(self.clients.values()):
            await c.ws.close()
        if self._streamer is not None:
            self._streamer.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        self.builder.close()
        for ex in (self._engine, self._build, self._io):
            ex.shutdown(wait=False, cancel_futures=True)

    def _prepare(self) -> None:
        """Build thread: open (or build) the bank and decode it, then make the session."""
        def tell(d: dict[str, Any]) -> None:
            self._call(self._set_phase, "preparing", d)
        try:
            version = self.builder.open(tell)
            session = StudioSession(version, seed=self.seed)
        except Exception as e:  # noqa: BLE001 - the page says what failed; the server stays up
            log.error("cannot open %s: %s", self.graph_path, e)
            self._call(self._set_phase, "error", {"message": str(e)[:1000]})
            return
        gc.collect()
        gc.freeze()  # the decoded stems are long-lived: keep them out of the collector's way
        self._call(self._ready, session)

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(_maybe(fn(*args))))

    async def _set_phase(self, phase: str, detail: dict[str, Any]) -> None:
        self.phase, self.phase_detail = phase, detail
        await self._broadcast({"type": "phase", "phase": phase, **detail})

    async def _ready(self, session: StudioSession) -> None:
        self.session = session
        self.phase, self.phase_detail = "ready", {"message": "ready"}
        self.say(f"ready: {session.version.graph.name}, {len(session.version.source.ids)} stems decoded, bank {self.builder.root}")
        await self._broadcast(self._hello())

    def _hello(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "hello", "phase": self.phase, **self.phase_detail, "block": self.block,
                               "buffer_ms": self.buffer_ms, "takes": str(self.takes)}
        s = self.session
        if s is not None:
            v = s.latest  # what the file says now, even while the old stems still play
            out["model"] = v.model()
            out["status"] = s.status()
            out["sample_rate"] = s.sample_rate
            out["bank"] = str(self.builder.root)
        return out

    # -- HTTP ---------------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        if not self.allow_remote and not self._host_ok(request.host):
            return web.Response(status=421, text="misdirected request: the studio answers on its loopback address only\n")
        if self.token is not None:
            given = request.query.get("token") or request.cookies.get(COOKIE) or ""
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return web.Response(status=403, text="forbidden: open the URL with ?token=... (the studio's token)\n")
        resp = await handler(request)
        if self.token is not None and request.query.get("token") and isinstance(resp, web.StreamResponse):
            resp.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        resp.headers.setdefault("Cache-Control", "no-store")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        return resp

    def _host_ok(self, host: str) -> bool:
        name, _, port = host.rpartition(":")
        if not name or port != str(self.port):
            return False
        return is_loopback(name)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8",
                                "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
                                                           "img-src 'self' data:; style-src 'self' 'unsafe-inline'"})

    async def _static_file(self, request: web.Request) -> web.StreamResponse:
        p = self._static.get(request.match_info["path"])
        if p is None:
            raise web.HTTPNotFound()
        ctype = _CONTENT_TYPES.get(p.suffix, "application/octet-stream")
        return web.FileResponse(p, headers={"Content-Type": f"{ctype}; charset=utf-8" if ctype.startswith("text") else ctype})

    async def _take_file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        p = self.takes / name
        if not _TAKE_RE.match(name) or not p.is_file() or p.is_symlink():
            raise web.HTTPNotFound()
        return web.FileResponse(p, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # -- WebSocket ----------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{request.host}" and origin != f"https://{request.host}":
            return web.Response(status=403, text="forbidden: the studio's socket is for its own page\n")
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, heartbeat=20)
        await ws.prepare(request)
        self._ids += 1
        client = _Client(ws, self._ids)
        self.clients[client.n] = client
        try:
            await ws.send_json(self._hello())
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._message(client, msg.data)
                elif msg.type in (WSMsgType.BINARY,):
                    await self._send(client, {"type": "error", "message": "binary messages are not accepted"})
        finally:
            self.clients.pop(client.n, None)
            if self.player is client:
                self.player = None
        return ws

    async def _message(self, client: _Client, data: str) -> None:
        try:
            msg = json.loads(data)
            if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
                raise StudioError("a message must be a JSON object with an op")
        except (ValueError, StudioError) as e:
            await self._send(client, {"type": "reply", "id": None, "ok": False, "error": str(e)[:300]})
            return
        op, mid = msg["op"], msg.get("id")
        if op == "clock":
            self._clock(client, msg)
            return
        try:
            result = await self._op(client, op, msg)
            await self._send(client, {"type": "reply", "id": mid, "op": op, "ok": True, "result": result})
        except (SoundtrackError, ValueError, TypeError, KeyError) as e:
            await self._send(client, {"type": "reply", "id": mid, "op": op, "ok": False, "error": str(e)[:1000]})

    def _clock(self, client: _Client, msg: dict[str, Any]) -> None:
        if msg.get("session") != client.session:
            return  # a report about an earlier session's audio
        played = msg.get("played")
        if isinstance(played, (int, float)) and not isinstance(played, bool) and 0 <= played <= client.sent:
            client.played = int(played)
        client.stats = {k: msg[k] for k in ("underruns", "underrun_frames", "buffered", "latency_ms", "received")
                        if isinstance(msg.get(k), (int, float)) and not isinstance(msg.get(k), bool)}
        client.wake.set()

    async def _engine_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        assert self._loop is not None
        return await self._loop.run_in_executor(self._engine, fn, *args)

    def _need(self) -> StudioSession:
        if self.session is None:
            raise StudioError(f"the studio is not ready: {self.phase_detail.get('message', self.phase)}")
        return self.session

    async def _op(self, client: _Client, op: str, msg: dict[str, Any]) -> Any:
        name = msg.get("name", "")
        if not isinstance(name, str) or len(name) > 200:
            raise StudioError("name must be a short string")
        if op == "hello":
            return self._hello()
        s = self._need()
        if op == "play":
            state = msg.get("state")
            if state is not None and not isinstance(state, str):
                raise StudioError("state must be a string")
            result = await self._engine_call(s.play, state)
            await self._start_stream(client, result["take"])
            await self._broadcast({"type": "played", **result})
            return result
        if op == "stop":
            fade = msg.get("fade", 0.5)
            if isinstance(fade, bool) or not isinstance(fade, (int, float)):
                raise StudioError("fade must be a number of seconds")
            result = await self._engine_call(s.stop, float(fade))
            await self._broadcast({"type": "stopped", **result})
            return result
        if op in ("event", "stinger", "param", "tempo", "mute", "solo"):
            value = msg.get("value")
            if op in ("mute", "solo"):
                name = msg.get("layer", name)
                value = bool(msg.get("on"))
            elif op in ("param", "tempo") and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise StudioError(f"{op} needs a numeric value")
            result = await self._engine_call(s.command, op, name, value)
            await self._broadcast({"type": "plan", "from": client.n, "plan": result})
            return result
        if op in ("regen", "reload"):
            state = None if op == "reload" else msg.get("state")
            changes = msg.get("changes") or {}
            if op == "regen" and (not isinstance(state, str) or not isinstance(changes, dict)):
                raise StudioError("regen needs a state and a changes object")
            if self.builder.busy:
                raise StudioError("a regeneration is already running; wait for it to finish")
            assert self._loop is not None
            self._loop.run_in_executor(self._build, self._regenerate, state, changes)
            return {"started": True, "state": state}
        if op == "audition":
            return await self._audition(client, msg)
        if op == "save_take":
            return await self._save_take(s)
        raise StudioError(f"op {op!r} is not known; ops are play, stop, event, stinger, param, tempo, mute, solo, "
                          "regen, reload, audition, save_take, clock")

    def _regenerate(self, state: str | None, changes: dict[str, Any]) -> None:
        """Build thread: edit, write, build, decode; then offer the new version to the session."""
        s = self.session
        assert s is not None

        def tell(d: dict[str, Any]) -> None:
            self._call(self._broadcast, {"type": "regen", **d})
        try:
            previous = s.version
            version, report = self.builder.regenerate(state, changes, previous, tell)
        except Exception as e:  # noqa: BLE001 - reported to the page, the studio keeps playing
            self._call(self._broadcast, {"type": "regen", "phase": "failed", "state": state, "message": str(e)[:1000]})
            return
        self._call(self._offer, version, report)

    async def _offer(self, version: Version, report: dict[str, Any]) -> None:
        s = self._need()
        offer = await self._engine_call(s.offer, version)
        await self._broadcast({"type": "regen", "phase": "built", **report, "when": offer["when"]})
        await self._broadcast(self._hello())

    async def _audition(self, client: _Client, msg: dict[str, Any]) -> dict[str, Any]:
        s = self._need()
        name, role = msg.get("name"), msg.get("role", "main")
        variant, layer, tempo = msg.get("variant", 0), msg.get("layer"), msg.get("tempo")
        if not isinstance(name, str) or not isinstance(role, str) or isinstance(variant, bool) or not isinstance(variant, int):
            raise StudioError("audition needs name, role and variant")
        if tempo is not None and (isinstance(tempo, bool) or not isinstance(tempo, (int, float, str))):
            raise StudioError("tempo must be a number or null")
        source = s.latest.source

        def pcm() -> tuple[bytes, int, int]:
            from fractions import Fraction

            stem = source.stem(name, role, variant, tempo=None if tempo is None else Fraction(tempo))
            if layer in (None, "", "mix"):
                audio = stem.mix
            elif layer in stem.layers:
                audio = stem.layers[layer]
            else:
                raise StudioError(f"stem {name} {role} has no layer {layer!r}; layers are {', '.join(stem.layers)}")
            audio = audio[: MAX_AUDITION_SECONDS * stem.sample_rate]
            return np.ascontiguousarray(audio, dtype="<f4").tobytes(), audio.shape[0], audio.shape[1]

        assert self._loop is not None
        data, frames, channels = await self._loop.run_in_executor(self._io, pcm)
        await client.ws.send_bytes(HEADER.pack(KIND_AUDITION, channels, frames, 0, 0.0) + data)
        return {"name": name, "role": role, "variant": variant, "layer": layer or "mix", "frames": frames,
                "seconds": round(frames / s.sample_rate, 3)}

    async def _save_take(self, s: StudioSession) -> dict[str, Any]:
        take = await self._engine_call(lambda: s.take)
        if take is None:
            raise StudioError("nothing has been recorded yet: press Play first")
        name = f"{s.version.graph.name}-take-{s.takes}"
        assert self._loop is not None
        frames = take.frames

        def save() -> tuple[Path, Path, Path]:
            try:
                current = self.graph_path.read_text(encoding="utf-8")
            except OSError:
                current = None
            wav, script = save_take(take, self.takes, name, current_text=current)
            g = self.takes / f"{name}.graph.toml"
            return wav, script, g if current is not None and current != take.graph_text else Path(take.graph_path)

        wav, script, graph = await self._loop.run_in_executor(self._io, save)
        return {"wav": str(wav), "script": str(script), "graph": str(graph), "frames": frames,
                "seconds": round(frames / s.sample_rate, 3),
                "replayable": not take.not_replayable, "not_replayable": take.not_replayable,
                "replay": f"soundtrack render {graph} --events {script} --out replay.wav",
                "download": {"wav": f"/takes/{wav.name}", "script": f"/takes/{script.name}"}}

    # -- streaming ------------------------------------------------------------------------------
    async def _start_stream(self, client: _Client, take: int) -> None:
        if self._streamer is not None:
            self._streamer.cancel()
            try:
                await self._streamer
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self.player = client
        client.session, client.sent, client.played = take, 0, 0
        for k in ("max_render_ms", "max_call_ms", "max_gap_ms", "last_send"):
            self.stats.pop(k, None)
        await self._send(client, {"type": "session", "take": take, "sample_rate": self._need().sample_rate,
                                  "channels": self._need().channels, "buffer_ms": self.buffer_ms})
        self._streamer = asyncio.ensure_future(self._stream(client))

    def _render(self) -> tuple[bytes, int, int, list, dict, list, bool]:
        """Engine thread: one block, packed."""
        s = self.session
        assert s is not None
        t0 = time.perf_counter()
        start = s.clock
        audio, markers, tick = s.render(self.block)
        data = HEADER.pack(KIND_PCM, audio.shape[1], audio.shape[0], 0, float(start)) + audio.astype("<f4", copy=False).tobytes()
        took = time.perf_counter() - t0
        self.stats["render_seconds"] += took
        self.stats["max_render_ms"] = max(self.stats.get("max_render_ms", 0.0), took * 1000)
        return data, start, audio.shape[0], markers, tick, s.drain_events(), s.finished

    async def _stream(self, client: _Client) -> None:
        s = self._need()
        target = int(self.buffer_ms * s.sample_rate / 1000)
        try:
            while not client.ws.closed:
                if client.sent - client.played >= target:
                    client.wake.clear()
                    try:
                        await asyncio.wait_for(client.wake.wait(), 0.1)
                    except asyncio.TimeoutError:
                        pass
                    continue
                t_ask = time.perf_counter()
                data, start, n, markers, tick, events, finished = await self._engine_call(self._render)
                now = time.perf_counter()
                self.stats["max_call_ms"] = max(self.stats.get("max_call_ms", 0.0), (now - t_ask) * 1000)
                last = self.stats.get("last_send")
                if last is not None:
                    self.stats["max_gap_ms"] = max(self.stats.get("max_gap_ms", 0.0), (now - last) * 1000)
                self.stats["last_send"] = now
                await client.ws.send_bytes(data)
                client.sent += n
                self.stats["blocks"] += 1
                self.stats["frames"] += n
                tick["markers"] = markers
                tick["client"] = {"sent": client.sent, "played": client.played, **client.stats}
                tick["server"] = {k: round(self.stats.get(k, 0.0), 1) for k in ("max_render_ms", "max_call_ms", "max_gap_ms")}
                await self._broadcast(tick)
                for e in events:
                    await self._broadcast(e)
                if finished:
                    await self._broadcast({"type": "end", "frame": start + n})
                    return
        except (ConnectionResetError, asyncio.CancelledError):
            return
        except SoundtrackError as e:
            log.error("streaming stopped: %s", e)
            await self._broadcast({"type": "error", "message": f"streaming stopped: {e}"})

    async def _send(self, client: _Client, msg: dict[str, Any]) -> None:
        if client.ws.closed:
            return
        try:
            await client.ws.send_str(json.dumps(msg, separators=(",", ":"), allow_nan=False))
        except (ConnectionResetError, RuntimeError):
            pass

    async def _broadcast(self, msg: dict[str, Any]) -> None:
        text = json.dumps(msg, separators=(",", ":"), allow_nan=False)
        for c in list(self.clients.values()):
            if not c.ws.closed:
                try:
                    await c.ws.send_str(text)
                except (ConnectionResetError, RuntimeError):
                    pass


async def _maybe(x: Any) -> Any:
    if asyncio.iscoroutine(x):
        return await x
    return x


async def run_studio(studio: Studio, *, ready: Callable[[str], None] | None = None) -> None:
    """Serve until cancelled (Ctrl-C)."""
    url = await studio.start()
    (ready or print)(url)
    try:
        await asyncio.Event().wait()
    finally:
        await studio.close()


def studio_main(graph: str, *, port: int = DEFAULT_PORT, host: str = "127.0.0.1", allow_remote: bool = False,
                token_file: str | None = None, bank: str | None = None, takes: str = DEFAULT_TAKES, seed: int | None = None,
                buffer_ms: int = DEFAULT_BUFFER_MS, say: Callable[[str], None] | None = None) -> int:
    """`soundtrack studio`: print the URL and serve until Ctrl-C (opens no browser)."""
    logging.basicConfig(level=logging.INFO, format="soundtrack studio: %(message)s")
    token = read_token(token_file=token_file)
    if not Path(graph).is_file():
        raise StudioError(f"{graph}: no such graph file")
    studio = Studio(graph, bank=bank, takes=takes, host=host, port=port, token=token, allow_remote=allow_remote,
                    seed=seed, buffer_ms=buffer_ms, say=say)

    def ready(url: str) -> None:
        hint = "?token=TOKEN (the token from $SOUNDTRACK_TOKEN or --token-file)" if token else ""
        print(f"soundtrack studio: {url}{hint}  (graph {graph}; Ctrl-C to stop)", flush=True)

    try:
        asyncio.run(run_studio(studio, ready=ready))
    except KeyboardInterrupt:
        pass
    return 0
