"""`soundtrack serve`: listen at once, prepare (and if need be build) the bank in a worker while
answering `hello` and `status`, then serve the session.

Kept apart from the server so the server and hub can be tested with any stem source.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from soundtrack.errors import BankError, SoundtrackError
from soundtrack.ipc.device import BLOCK_FRAMES, QUEUE_BLOCKS
from soundtrack.ipc.hub import Hub
from soundtrack.ipc.protocol import DEFAULT_LIMITS, Limits
from soundtrack.ipc.server import Server, parse_tcp_address
from soundtrack.ipc.session import Source

log = logging.getLogger("soundtrack.serve")

TOKEN_ENV = "SOUNDTRACK_TOKEN"
MIN_TOKEN_CHARS = 16


def open_source(path: str | Path, *, build_missing: bool = False, say: Callable[[str], None] | None = None,
                roots: Sequence[Path] = ()) -> Source:
    """A graph TOML (its bank from ``loops/NAME/``, built first when missing and `build_missing`)
    or a bank directory (self-contained: its graph is the text its manifest keeps). With
    `roots`, a graph's bank must lie inside one of them too. Not prepared: see `Source.prepare`."""
    from soundtrack.bank import Bank, default_out, open_bank
    from soundtrack.graph import load_graph

    p = Path(path)
    if roots and not p.is_dir():
        graph = load_graph(p)
        bank_dir = Path(os.path.realpath(default_out(graph)))
        if not any(bank_dir == r or bank_dir.is_relative_to(r) for r in roots):
            raise BankError(f"{p}: its bank {bank_dir} is outside the folders this server may load from")
        return Source(graph, Bank(bank_dir, graph=graph), str(path))
    graph, bank = open_bank(p, build_missing=build_missing, say=say or log.info)
    return Source(graph, bank, str(path))


def make_sequencer(source: Source, seed: int) -> Any:
    from soundtrack.sequencer import Sequencer

    return Sequencer(source.graph, source.bank, sample_rate=source.graph.sample_rate, seed=seed)


def read_token(*, token_file: str | None, environ: dict[str, str] | None = None) -> str | None:
    """The server's token from `token_file` (first line) or $SOUNDTRACK_TOKEN, never argv
    (which any local user can read in /proc/PID/cmdline). At least 16 characters."""
    env = os.environ if environ is None else environ
    if token_file is not None:
        f = Path(token_file)
        try:
            if not f.is_file():
                raise SoundtrackError(f"--token-file {f}: not a regular file")
            mode = f.stat().st_mode
            text = f.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise SoundtrackError(f"--token-file {f}: cannot read it ({e.strerror or e})") from None
        token = text[0].strip() if text else ""
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("--token-file %s can be read by other users (chmod 600 it)", f)
    else:
        token = env.get(TOKEN_ENV, "").strip()
        if not token:
            return None
    if len(token) < MIN_TOKEN_CHARS or len(token) > 4096:
        raise SoundtrackError(f"the token must be {MIN_TOKEN_CHARS} to 4096 characters long, got {len(token)}; "
                              "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return token


def _open_quick(path: str | Path) -> tuple[Any, Any, Path | None]:
    """(graph, bank or None, bank folder to build) from what can be read at once: a bank
    folder's manifest, or a graph file and its bank's manifest (None when missing or stale)."""
    from soundtrack.bank import Bank, default_out
    from soundtrack.graph import load_graph

    p = Path(path)
    if p.is_dir():
        bank = Bank(p)
        return bank.graph, bank, None
    if p.suffix != ".toml" or not p.is_file():
        raise BankError(f"{p}: expected a graph .toml file or a bank directory (soundtrack bank build GRAPH --out DIR)")
    graph = load_graph(p)
    root = default_out(graph)
    try:
        return graph, Bank(root, graph=graph), None
    except BankError as e:
        log.info("bank %s for %s is missing or stale (%s): building it now, while listening", root, graph.path, e)
        return graph, None, root


def _prepare(hub: Hub, loop: asyncio.AbstractEventLoop, path: str, graph: Any, bank: Any, build_root: Path | None) -> None:
    """Worker thread: build the bank if needed, decode every stem, then hand the source to the hub."""
    from soundtrack.bank import Bank, build_bank

    def tell(**progress: Any) -> None:
        loop.call_soon_threadsafe(lambda: hub.set_build(**progress))

    try:
        if bank is None:
            assert build_root is not None  # _open_quick gives one or the other
            tell(phase="building")

            def progress(p: Any) -> None:
                tell(phase="building", total=p.total, done=p.done, reused=p.reused, generated=p.generated)

            build_bank(graph, out=build_root, progress=progress)
            bank = Bank(build_root, graph=graph)
        tell(phase="preparing", total=len(bank), done=len(bank))
        source = Source(graph, bank, path)
        source.prepare()
        loop.call_soon_threadsafe(_ready, hub, source)
    except Exception as e:  # the server keeps answering status with what failed
        log.error("cannot prepare %s: %s", path, e)
        message = str(e)
        loop.call_soon_threadsafe(lambda: hub.set_ready(None, error=message[:500]))


def _ready(hub: Hub, source: Source) -> None:
    hub.set_ready(source)
    log.info("ready: %s prepared (%.0f MB of audio decoded)", source.name, getattr(source.bank, "decoded_bytes", 0) / 1e6)
    gc.freeze()  # the decoded bank is long-lived: keep it out of the collector's sight (p99)


def serve(
    path: str | Path,
    *,
    tcp: str | None = None,
    unix: str | None = None,
    stdio: bool = False,
    output: Literal["pull", "device"] = "pull",
    allow_remote: bool = False,
    token: str | None = None,
    allow_load: Sequence[str] = (),
    allow_shutdown: bool = False,
    block_frames: int = BLOCK_FRAMES,
    queue_blocks: int = QUEUE_BLOCKS,
    limits: Limits = DEFAULT_LIMITS,
) -> int:
    """Run the server until `shutdown`, SIGTERM or (stdio) end of input. Logs go to stderr; the
    line ``listening on ...`` says where (the port chosen for ``:0`` too); it comes at once, and
    the bank is prepared (built first when missing or stale) while the server answers."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="soundtrack serve: %(message)s")
    modes = sum(x is not None and x is not False for x in (tcp, unix, stdio or None))
    if modes > 1:
        raise SoundtrackError("serve: give one of --tcp, --unix, --stdio")
    if modes == 0:
        tcp = "127.0.0.1:7700"
    address = parse_tcp_address(tcp, allow_remote=allow_remote, token=token) if tcp else None
    roots = []
    for d in allow_load:
        if not Path(d).is_dir():
            raise SoundtrackError(f"--allow-load {d}: not a folder")
        roots.append(Path(os.path.realpath(d)))
    graph, bank, build_root = _open_quick(path)
    device = None
    if output == "device":
        from soundtrack.ipc.device import DeviceOutput, require_sounddevice

        require_sounddevice()  # fail now, not at `start`, when sounddevice/PortAudio is missing
        device = DeviceOutput(block_frames=block_frames, queue_blocks=queue_blocks)
    elif output != "pull":
        raise SoundtrackError(f"--output {output!r} must be pull or device")

    gc.collect()
    gc.freeze()

    async def main() -> None:
        server_box: list[Server] = []
        hub = Hub(
            Source(graph, bank, str(path)),
            make_sequencer=make_sequencer,
            open_source=lambda p: open_source(p, roots=roots),
            limits=limits,
            output=device or "pull",
            on_shutdown=lambda: server_box[0].request_shutdown(),
            ready=False,
            allow_load=roots,
            allow_shutdown=allow_shutdown,
            token_required=token is not None,
        )
        server = Server(hub, limits=limits, token=token)
        server_box.append(server)
        server.install_signal_handlers()
        if address is not None:
            await server.listen_tcp(*address)
        if unix is not None:
            await server.listen_unix(unix)
        loop = asyncio.get_running_loop()
        threading.Thread(target=_prepare, args=(hub, loop, str(path), graph, bank, build_root),
                         name="soundtrack-prepare", daemon=True).start()
        if stdio:
            log.info("listening on stdio (graph %s, %d Hz)", graph.name, hub.session.sample_rate)
            await server.serve_stdio()
        else:
            log.info("listening on %s (graph %s, %d Hz)", server.addresses[0], graph.name, hub.session.sample_rate)
        await server.wait_stopped()
        log.info("stopped")

    asyncio.run(main())
    return 0
