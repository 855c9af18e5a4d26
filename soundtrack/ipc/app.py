"""`soundtrack serve`: open a graph's bank (or a bank directory), build the session, run the server.

Kept apart from the server so the server and session can be tested with any stem source.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Literal

from soundtrack.errors import SoundtrackError
from soundtrack.ipc.protocol import DEFAULT_LIMITS, Limits
from soundtrack.ipc.server import Server, parse_tcp_address
from soundtrack.ipc.session import Session, Source

log = logging.getLogger("soundtrack.serve")


def open_source(path: str | Path, *, build_missing: bool = False, say: Callable[[str], None] | None = None) -> Source:
    """A graph TOML (its bank from ``loops/NAME/``, built first when missing and `build_missing`)
    or a bank directory (its graph is the one its manifest records)."""
    from soundtrack.bank import open_bank

    graph, bank = open_bank(path, build_missing=build_missing, say=say or log.info)
    return Source(graph, bank, str(path))


def make_sequencer(source: Source, seed: int) -> Any:
    from soundtrack.sequencer import Sequencer

    return Sequencer(source.graph, source.bank, sample_rate=source.graph.sample_rate, seed=seed)


def serve(
    path: str | Path,
    *,
    tcp: str | None = None,
    unix: str | None = None,
    stdio: bool = False,
    output: Literal["pull", "device"] = "pull",
    allow_remote: bool = False,
    token: str | None = None,
    block_frames: int = 512,
    queue_blocks: int = 4,
    limits: Limits = DEFAULT_LIMITS,
) -> int:
    """Run the server until `shutdown`, SIGTERM or (stdio) end of input. Logs go to stderr;
    the line ``listening on ...`` says where, including the port chosen for ``:0``."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="soundtrack serve: %(message)s")
    modes = sum(x is not None and x is not False for x in (tcp, unix, stdio or None))
    if modes > 1:
        raise SoundtrackError("serve: give one of --tcp, --unix, --stdio")
    if modes == 0:
        tcp = "127.0.0.1:7700"
    address = parse_tcp_address(tcp, allow_remote=allow_remote, token=token) if tcp else None
    source = open_source(path, build_missing=True, say=lambda m: log.info(m))
    device = None
    if output == "device":
        from soundtrack.ipc.device import DeviceOutput, require_sounddevice

        require_sounddevice()  # fail now, not at `start`, when sounddevice/PortAudio is missing
        device = DeviceOutput(block_frames=block_frames, queue_blocks=queue_blocks)
    elif output != "pull":
        raise SoundtrackError(f"--output {output!r} must be pull or device")

    # The graph, bank and imports are long-lived: move them out of the collector's sight so a
    # full collection in the middle of a request walks only what requests allocate (p99).
    gc.collect()
    gc.freeze()

    async def main() -> None:
        server_box: list[Server] = []
        session = Session(
            source,
            make_sequencer=make_sequencer,
            open_source=lambda p: open_source(p, build_missing=False),
            limits=limits,
            output=device or "pull",
            on_shutdown=lambda: server_box[0].request_shutdown(),
        )
        server = Server(session, limits=limits, token=token)
        server_box.append(server)
        server.install_signal_handlers()
        if address is not None:
            host, port = await server.listen_tcp(*address)
        if unix is not None:
            await server.listen_unix(unix)
        if stdio:
            log.info("listening on stdio (graph %s, %d Hz)", source.graph.name, session.sample_rate)
            await server.serve_stdio()
        else:
            log.info("listening on %s (graph %s, %d Hz)", server.addresses[0], source.graph.name, session.sample_rate)
        await server.wait_stopped()
        log.info("stopped")

    asyncio.run(main())
    return 0

