"""A take: what the studio played, as audio and as an event script that replays it.

Every session from Play is a take: the blocks rendered (float32, exactly what was streamed)
and each command with the music frame it was given at (events, stingers, parameters, tempo).
`soundtrack render` runs a script by rendering up to each command's frame and then giving it,
which is what the studio did, so the script replays the take bit for bit (`script_text`
writes each time in seconds with as many decimals as it takes to land on that exact frame).

A take stops being a replay of the file when the studio does something a script cannot say:
solo/mute (the monitor's hidden parameters) marks it not replayable; a stem swap after a
regeneration ends it (the music after the swap comes from a changed graph). Its length is
capped (`MAX_TAKE_SECONDS`); Stop ends it where Stop was pressed (the fade-out is not in it).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.errors import StudioError

MAX_TAKE_SECONDS = 900  # 15 min: about 350 MB of float32 stereo at 48 kHz
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")




def seconds_text(frame: int, sample_rate: int) -> str:
    """`frame` as a script time: the shortest decimal seconds that round back to exactly `frame`."""
    exact = Fraction(frame, sample_rate)
    for digits in range(3, 16):
        text = f"{float(exact):.{digits}f}"
        if round(Fraction(text) * sample_rate) == frame:
            return text.rstrip("0").rstrip(".") + "s" if "." in text else text + "s"
    raise StudioError(f"frame {frame} has no decimal time at {sample_rate} Hz")  # unreachable for real rates


@dataclass
class Command:
    frame: int
    kind: str  # event | stinger | param | tempo
    name: str = ""
    value: float | None = None


@dataclass
class Take:
    """One take (see module docstring); `frames` is its length so far."""

    graph_path: str
    graph_text: str
    start: str
    seed: int
    sample_rate: int
    channels: int = 2
    max_frames: int = 0
    blocks: list[np.ndarray] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    frames: int = 0
    ended: str = ""  # why the take ended (empty while it records)
    not_replayable: str = ""  # why the script would not replay it (empty: it does)
    started_at: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if not self.max_frames:
            self.max_frames = MAX_TAKE_SECONDS * self.sample_rate

    @property
    def recording(self) -> bool:
        return not self.ended

    def add_block(self, audio: np.ndarray) -> None:
        if self.ended:
            return
        room = self.max_frames - self.frames
        if audio.shape[0] >= room:
            audio = audio[:room]
            self.ended = f"the take reached its {self.max_frames // self.sample_rate} s limit"
        if audio.shape[0]:
            self.blocks.append(audio.copy())
            self.frames += audio.shape[0]

    def add(self, frame: int, kind: str, name: str = "", value: float | None = None) -> None:
        if not self.ended:
            self.commands.append(Command(int(frame), kind, name, value))

    def mark(self, why: str) -> None:
        """Note something a script cannot replay (the first reason is kept)."""
        if not self.ended and not self.not_replayable:
            self.not_replayable = why

    def end(self, why: str) -> None:
        if not self.ended:
            self.ended = why

    def audio(self) -> np.ndarray:
        if not self.blocks:
            return np.zeros((0, self.channels), np.float32)
        return np.concatenate(self.blocks)

    def script_text(self, *, replay_hint: str = "") -> str:
        sr = self.sample_rate
        sha = hashlib.sha256(self.graph_text.encode("utf-8")).hexdigest()
        lines = [
            f"# A take recorded by soundtrack studio from {self.graph_path}",
            f"# (graph text sha256 {sha[:16]}), {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(self.started_at))}:",
            f"# {self.frames} frames at {sr} Hz, {len(self.commands)} commands.",
        ]
        if self.not_replayable:
            lines.append(f"# Not a bit-exact replay: {self.not_replayable}.")
        elif replay_hint:
            lines.append(f"# Replays bit-identically: {replay_hint}")
        if self.ended:
            lines.append(f"# The take ended: {self.ended}.")
        lines += [f'duration = "{seconds_text(self.frames, sr)}"', f'start = "{self.start}"', f"seed = {self.seed}"]
        for c in self.commands:
            if c.frame >= self.frames:
                continue  # given after the last frame recorded: it would not be heard
            lines += ["", "[[events]]", f'at = "{seconds_text(c.frame, sr)}"']
            if c.kind == "event":
                lines.append(f'event = "{c.name}"')
            elif c.kind == "stinger":
                lines.append(f'stinger = "{c.name}"')
            elif c.kind == "param":
                lines += [f'param = "{c.name}"', f"value = {float(c.value)!r}"]  # type: ignore[arg-type]
            elif c.kind == "tempo":
                lines.append(f"tempo = {float(c.value)!r}")  # type: ignore[arg-type]
        return "\n".join(lines) + "\n"

    def info(self) -> dict[str, Any]:
        return {"frames": self.frames, "seconds": round(self.frames / self.sample_rate, 3), "commands": len(self.commands),
                "recording": self.recording, "ended": self.ended, "replayable": not self.not_replayable,
                "not_replayable": self.not_replayable, "start": self.start, "seed": self.seed}


def save_take(take: Take, folder: str | Path, name: str, *, current_text: str | None = None) -> tuple[Path, Path]:
    """Write `take` as FOLDER/NAME.wav and FOLDER/NAME_session.toml; returns both paths. When
    the graph file has changed since the take began (`current_text` differs: a regeneration),
    the graph it was played from is written beside it as FOLDER/NAME.graph.toml, and the script
    names that file (replaying it builds that graph's bank beside it)."""
    from soundtrack.audio import write_audio
    from soundtrack.files import atomic_path

    if not _NAME_RE.match(name):
        raise StudioError(f"take name {name!r} must be letters, digits, '.', '_' or '-'")
    if take.frames == 0:
        raise StudioError("nothing has been recorded yet: press Play first")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StudioError(f"{folder}: cannot create the takes folder: {e.strerror or e}") from None
    wav = folder / f"{name}.wav"
    script = folder / f"{name}_session.toml"
    graph_path = take.graph_path
    try:
        if current_text is not None and current_text != take.graph_text:
            graph_path = str(folder / f"{name}.graph.toml")
            with atomic_path(graph_path) as tmp:
                tmp.write_text(take.graph_text, encoding="utf-8")
        hint = f"soundtrack render {graph_path} --events {script} --out replay.wav"
        write_audio(wav, take.audio(), take.sample_rate)  # float32 WAV, as `soundtrack render` writes it
        with atomic_path(script) as tmp:
            tmp.write_text(take.script_text(replay_hint=hint), encoding="utf-8")
    except OSError as e:
        raise StudioError(f"{folder}: cannot write the take: {e.strerror or e}") from None
    return wav, script
