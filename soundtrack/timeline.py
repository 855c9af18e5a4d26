"""Scripted sessions: an event script (TOML) played offline through the sequencer, and a
timeline plot of what happened (waveform, states, transitions, layers, the bar grid).

Script format::

    duration = "90s"          # or end = "bar 40": how long the session lasts
    start = "explore"         # optional; default: the graph's start state
    seed = 1                  # optional; default: the graph's seed

    [[events]]
    at = "12.5s"              # seconds, "bar 9" or "9:3" (bar 9 beat 3)
    event = "enemy_spotted"   # a game event (or a stinger's name)

    [[events]]
    at = "bar 20"
    param = "intensity"       # or: stinger = "treasure" / tempo = 150
    value = 0.8

Bars count the bars heard in the session (bar markers, whatever state plays them), so
"bar 9" is the ninth downbeat since the start. Events must be in time order; each is posted at
its exact frame (`at_frame`), and the session is rendered in 1024-frame blocks.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from soundtrack.errors import ScriptError, SequencerError, TimingError
from soundtrack.graph import Graph
from soundtrack.sequencer import Marker, Sequencer
from soundtrack.stem import StemSource
from soundtrack.timing import TimePoint, parse_time

BLOCK = 1024
MAX_SESSION_SECONDS = 3600




@dataclass(frozen=True)
class ScriptEvent:
    """One line of a script: at a time, an event, a parameter value, a stinger or a tempo."""

    index: int
    at: TimePoint
    event: str | None = None
    param: str | None = None
    value: float | None = None
    stinger: str | None = None
    tempo: float | None = None
    ramp: str | None = None


@dataclass(frozen=True)
class Script:
    events: tuple[ScriptEvent, ...]
    end: TimePoint
    start: str | None = None
    seed: int | None = None
    path: str = "<script>"


_EVENT_KEYS = ("at", "event", "param", "value", "stinger", "tempo", "ramp")


def parse_script(text: str, *, path: str = "<script>") -> Script:
    """Parse an event script; errors name the file, the entry and the key."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScriptError(f"{path}: is not valid TOML: {e}") from None
    for k in doc:
        if k not in ("duration", "end", "start", "seed", "events"):
            raise ScriptError(f"{path}: {k} is not a known key; valid keys are duration, end, start, seed, events")
    if ("duration" in doc) == ("end" in doc):
        raise ScriptError(f"{path}: give exactly one of duration = \"90s\" or end = \"bar 40\"")
    try:
        end = parse_time(doc["duration"] if "duration" in doc else doc["end"])
    except (TimingError, TypeError) as e:
        raise ScriptError(f"{path}: duration/end: {e}") from None
    events = []
    raw = doc.get("events", [])
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        raise ScriptError(f"{path}: events must be an array of tables: [[events]]")
    for i, ev in enumerate(raw):
        w = f"{path}: events[{i}]"
        for k in ev:
            if k not in _EVENT_KEYS:
                raise ScriptError(f"{w}.{k} is not a known key; valid keys are {', '.join(_EVENT_KEYS)}")
        if "at" not in ev:
            raise ScriptError(f"{w}.at is missing (e.g. at = \"12.5s\" or \"bar 9\")")
        try:
            at = parse_time(ev["at"])
        except (TimingError, TypeError) as err:
            raise ScriptError(f"{w}.at = {ev['at']!r}: {err}") from None
        kinds = [k for k in ("event", "param", "stinger", "tempo") if k in ev]
        if len(kinds) != 1:
            raise ScriptError(f"{w} must have exactly one of event, param (with value), stinger, tempo")
        if "param" in ev and not isinstance(ev.get("value"), (int, float)):
            raise ScriptError(f"{w}.value is missing or not a number (param = {ev['param']!r} needs one)")
        events.append(ScriptEvent(i, at, ev.get("event"), ev.get("param"), ev.get("value"), ev.get("stinger"), ev.get("tempo"),
                                  ev.get("ramp")))
    seed = doc.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ScriptError(f"{path}: seed = {seed!r} must be a non-negative integer")
    return Script(tuple(events), end, doc.get("start"), seed, path)


def load_script(path: str | Path) -> Script:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ScriptError(f"{path}: cannot read event script: {e}") from None
    return parse_script(text, path=str(path))


@dataclass
class SessionResult:
    """A rendered session: the audio, every marker, what each command returned, and the layer
    gains sampled once per block (for the plot)."""

    audio: np.ndarray
    sample_rate: int
    markers: list[Marker]
    results: list[tuple[int, ScriptEvent, Any]]
    gain_frames: np.ndarray
    gains: dict[str, np.ndarray]
    graph_name: str = ""
    notes: list[str] = field(default_factory=list)


class _Runner:
    def __init__(self, seq: Sequencer, block: int) -> None:
        self.seq = seq
        self.block = block
        self.chunks: list[np.ndarray] = []
        self.markers: list[Marker] = []
        self.gain_frames: list[int] = []
        self.gains: dict[str, list[float]] = {}

    def render_to(self, frame: int) -> None:
        seq = self.seq
        while seq.frame < frame:
            n = min(self.block - seq.frame % self.block, frame - seq.frame)
            self.chunks.append(seq.render(n))
            self.markers.extend(seq.pop_markers())
            self.gain_frames.append(seq.frame)
            for k, v in seq.layer_gains().items():
                self.gains.setdefault(k, []).append(v)

    def frame_of(self, at: TimePoint, where: str) -> int:
        seq = self.seq
        if at.seconds is not None:
            return int(round(at.seconds * seq.sample_rate))
        assert at.bar is not None
        while True:  # bars are those heard: find the frame of the session's bar N
            f = seq.next_bar_frame()
            if seq.session_bars >= at.bar:
                raise ScriptError(f"{where} = bar {at.bar}: that bar has already been played")
            if seq.session_bars == at.bar - 1:
                break
            self.render_to(f + 1)
        for _ in range(at.beat - 1):  # then beat B: step beat by beat on what plays
            self.render_to(f + 1)
            f = seq.next_beat_frame()
        return f


def run_session(graph: Graph, source: StemSource, script: Script, *, sample_rate: int | None = None,
                seed: int | None = None, block: int = BLOCK) -> SessionResult:
    """Play `script` against `graph` offline and return the audio, markers and results."""
    seq = Sequencer(graph, source, sample_rate=sample_rate, seed=seed if seed is not None else
                    (script.seed if script.seed is not None else graph.seed))
    run = _Runner(seq, block)
    results: list[tuple[int, ScriptEvent, Any]] = []
    results.append((0, ScriptEvent(-1, TimePoint(seconds=Fraction(0))), seq.start(script.start)))
    for ev in script.events:
        where = f"{script.path}: events[{ev.index}].at"
        f = run.frame_of(ev.at, where)
        if f < seq.frame:
            raise ScriptError(f"{where} is at frame {f}, before the previous event (frame {seq.frame}); keep events in time order")
        if f > MAX_SESSION_SECONDS * seq.sample_rate:
            raise ScriptError(f"{where} is past the {MAX_SESSION_SECONDS} s session limit")
        run.render_to(f)
        try:
            if ev.event is not None:
                res: Any = seq.post(ev.event)
            elif ev.param is not None:
                res = seq.set_param(ev.param, float(ev.value), ramp=ev.ramp)  # type: ignore[arg-type]
            elif ev.stinger is not None:
                res = seq.stinger(ev.stinger)
            else:
                res = seq.set_tempo(ev.tempo)  # type: ignore[arg-type]
        except SequencerError as e:
            raise ScriptError(f"{script.path}: events[{ev.index}]: {e}") from None
        results.append((f, ev, res))
    end = run.frame_of(script.end, f"{script.path}: end")
    if end > MAX_SESSION_SECONDS * seq.sample_rate:
        raise ScriptError(f"{script.path}: the session lasts more than {MAX_SESSION_SECONDS} s")
    run.render_to(end)
    audio = np.concatenate(run.chunks) if run.chunks else np.zeros((0, seq.channels), np.float32)
    return SessionResult(
        audio=audio,
        sample_rate=seq.sample_rate,
        markers=run.markers,
        results=results,
        gain_frames=np.asarray(run.gain_frames, dtype=np.int64),
        gains={k: np.asarray(v) for k, v in run.gains.items()},
        graph_name=graph.name,
    )


def describe(result: SessionResult) -> list[str]:
    """One line per command: when it was posted and what it will do (or why not)."""
    sr = result.sample_rate
    lines = []
    for f, ev, res in result.results:
        what = ev.event or (f"{ev.param}={ev.value:g}" if ev.param else None) or ev.stinger or (f"tempo {ev.tempo}" if ev.tempo else "start")
        if getattr(res, "accepted", True) is False:
            lines.append(f"{f / sr:8.3f}s  {what}: refused: {res.reason}")
        elif hasattr(res, "edit_frame"):
            lines.append(f"{f / sr:8.3f}s  {what}: {res.source} -> {res.target} at {res.edit_frame / sr:.3f}s "
                         f"(frame {res.edit_frame}, bar {res.position}, {res.sync})")
        elif hasattr(res, "ramp_frames"):
            gains = ", ".join(f"{k} {v:.2f}" for k, v in res.gains.items())
            lines.append(f"{f / sr:8.3f}s  {what}: layer gains {gains} from {res.frame / sr:.3f}s")
        elif hasattr(res, "start"):
            lines.append(f"{f / sr:8.3f}s  {what}: stinger at {res.frame / sr:.3f}s (bar {res.position})")
        else:
            lines.append(f"{f / sr:8.3f}s  {what}: {res}")
    return lines


def plot_timeline(result: SessionResult, path: str | Path, *, title: str | None = None) -> Path:
    """Draw waveform, states, transitions, stingers, layer gains and the bar grid to a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sr = result.sample_rate
    a = result.audio
    n = a.shape[0]
    secs = n / sr if n else 1.0
    fig, (ax_w, ax_g) = plt.subplots(2, 1, figsize=(14, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    # waveform envelope: min/max per bucket
    buckets = max(1, min(4000, n))
    mono = a.mean(axis=1) if n else np.zeros(1)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    tops = np.array([mono[edges[i]:max(edges[i + 1], edges[i] + 1)].max() for i in range(buckets)]) if n else np.zeros(1)
    bots = np.array([mono[edges[i]:max(edges[i + 1], edges[i] + 1)].min() for i in range(buckets)]) if n else np.zeros(1)
    xs = edges[:-1] / sr if n else np.zeros(1)
    # state spans
    states = [(m.frame, m.state) for m in result.markers if m.kind == "state"]
    names = sorted({s for _, s in states if s})
    cmap = plt.get_cmap("tab10")
    colours = {s: cmap(i % 10) for i, s in enumerate(names)}
    for i, (f, s) in enumerate(states):
        end = states[i + 1][0] if i + 1 < len(states) else n
        ax_w.axvspan(f / sr, end / sr, color=colours.get(s or "", "grey"), alpha=0.15, lw=0)
        ax_w.text(f / sr, 1.02, s or "", transform=ax_w.get_xaxis_transform(), fontsize=8, color=colours.get(s or "", "black"))
    for m in result.markers:
        if m.kind == "bar":
            ax_w.axvline(m.frame / sr, color="black", alpha=0.08, lw=0.5)
    ax_w.fill_between(xs, bots, tops, color="#222222", lw=0)
    for m in result.markers:
        if m.kind == "transition":
            ax_w.axvline(m.frame / sr, color="red", lw=1.2)
            ax_w.text(m.frame / sr, 0.02, f" {m.detail.get('event')} ({m.position}, {m.detail.get('sync')})",
                      transform=ax_w.get_xaxis_transform(), fontsize=7, color="red", rotation=90, va="bottom")
        elif m.kind == "stinger":
            ax_w.axvline(m.frame / sr, color="orange", lw=1, ls="--")
            ax_w.text(m.frame / sr, 0.9, f" {m.detail.get('name')}", transform=ax_w.get_xaxis_transform(), fontsize=7, color="darkorange")
        elif m.kind == "rejected":
            ax_w.plot([m.frame / sr], [0.0], marker="x", color="purple")
    ax_w.set_ylim(-1, 1)
    ax_w.set_ylabel("output")
    ax_w.set_title(title or f"{result.graph_name}: {secs:.1f} s session", pad=16)  # above the state names
    t = result.gain_frames / sr
    for k, v in result.gains.items():
        ax_g.step(t, v, where="post", label=k)
    if result.gains:
        ax_g.legend(loc="upper left", fontsize=7, ncol=len(result.gains))
    ax_g.set_ylim(-0.05, 1.1)
    ax_g.set_ylabel("layer gain")
    ax_g.set_xlabel("seconds")
    ax_g.set_xlim(0, secs)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
