"""Soundtrack Studio: see, hear and shape a graph live in the browser (`soundtrack studio GRAPH`).

A local web app over the same pure `Sequencer` the server uses; it holds no sequencer of its own.

- `source`: `StudioSource`, a bank's stems kept decoded across bank versions (only what a
  rebuild changed is decoded again).
- `monitor`: the graph the studio plays: the file's graph plus one hidden parameter per layer,
  so solo and mute ride the engine's own per-sample layer gains.
- `edit`: a state's prompt, tempo, key, bars, variants and layers edited in the TOML text with
  tomlkit (formatting and comments kept), validated by `parse_graph`.
- `take`: what was played (the audio and every command with its frame), saved as a WAV and an
  event script that `soundtrack render` replays bit-identically.
- `session`: the engine side (one thread): decks of sequencers, commands with their plans in
  session frames, the take, and new stems swapped in at a quiet loop boundary.
- `model`: the graph as the page draws it (states laid out, transitions, stingers, params).
- `builds`: bank builds and regenerations off the event loop (generation in a process).
- `server`: the aiohttp app: the page, its static ES modules, one WebSocket per page carrying
  JSON control messages and binary PCM blocks, flow-controlled by the page's audio clock.
"""

#: One source of defaults for the CLI and the server (importing this package imports nothing else).
DEFAULT_PORT = 8765
DEFAULT_BUFFER_MS = 150
DEFAULT_TAKES = "out/studio"
