"""The sequencer's objects as the protocol sends them (`soundtrack.ipc.schema` declares the shapes).

The sequencer counts **music frames** (its `frame`, which stands still while paused); the
protocol counts **output frames** (every frame `render` returned, paused silence included).
Each function takes `offset` = output frame - music frame (the frames spent paused so far) and
adds it to every frame it sends.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np


def with_bar_beat(d: dict[str, Any]) -> dict[str, Any]:
    """Add integer `bar` and `beat` when `position` is a plain "BAR:BEAT" (not a pickup)."""
    pos = d.get("position")
    if isinstance(pos, str) and ":" in pos:
        bar, _, beat = pos.partition(":")
        if bar.isdigit() and beat.isdigit():
            d["bar"], d["beat"] = int(bar), int(beat)
    return d


def _frame(f: Any, offset: int) -> int:
    f = int(f)
    return f if f < 0 else f + offset


def _plain(v: Any) -> Any:
    if v is None or type(v) in (bool, int, float, str):
        return v
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, Fraction)):
        return float(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return str(v)


# Marker detail keys that hold output frames (the rest are counts, names, ids).
_FRAME_KEYS = {"main_frame", "start"}


def marker(m: Any, offset: int, session: int) -> dict[str, Any]:
    """A sequencer Marker as a notification payload: kind, frame, position, state, session, details."""
    d: dict[str, Any] = {"kind": m.kind, "frame": int(m.frame) + offset, "position": m.position, "state": m.state,
                         "session": session}
    for k, v in m.detail.items():
        k = str(k)
        if k in d:
            continue
        d[k] = _frame(v, offset) if k in _FRAME_KEYS and isinstance(v, (int, np.integer)) else _plain(v)
    return with_bar_beat(d)


def plan(p: Any, offset: int, event: str) -> dict[str, Any]:
    """A TransitionPlan as `event`'s result (schema type Plan)."""
    d = {
        "kind": "transition",
        "accepted": bool(p.accepted),
        "event": event,
        "reason": p.reason,
        "from": p.source,
        "to": p.target,
        "source": p.source,
        "target": p.target,
        "posted_frame": _frame(p.posted_frame, offset),
        "edit_frame": _frame(p.edit_frame, offset),
        "position": p.position,
        "sync": p.sync,
        "fade_frames": int(p.fade_frames),
        "curve": p.curve,
        "commit_frame": _frame(p.commit_frame, offset),
        "main_frame": _frame(p.main_frame, offset),
        "segments": [{"name": s.name, "role": s.role, "start": _frame(s.start, offset), "entry": _frame(s.entry, offset),
                      "exit": _frame(s.exit, offset)} for s in p.segments],
        "rule": None if p.rule is None else int(p.rule),
    }
    return with_bar_beat(d)


def stinger(p: Any, offset: int) -> dict[str, Any]:
    """A StingerPlan as `event`'s result (schema type StingerPlan)."""
    return with_bar_beat({
        "kind": "stinger", "accepted": bool(p.accepted), "event": p.name, "name": p.name, "reason": p.reason,
        "posted_frame": _frame(p.posted_frame, offset), "frame": _frame(p.frame, offset), "start": _frame(p.start, offset),
        "position": p.position,
    })


def param_change(c: Any, offset: int) -> dict[str, Any]:
    """A ParamChange as `set_param`'s result."""
    frame = _frame(c.frame, offset)
    return with_bar_beat({
        "name": c.name, "value": float(c.value), "frame": frame, "position": c.position, "ramp_frames": int(c.ramp_frames),
        "end_frame": frame + int(c.ramp_frames), "gains": {str(k): float(v) for k, v in c.gains.items()},
    })


def tempo_change(c: Any, offset: int) -> dict[str, Any]:
    """A TempoChange as `set_param("tempo")`'s result."""
    return with_bar_beat({
        "name": "tempo", "accepted": bool(c.accepted), "value": float(c.requested), "requested": float(c.requested),
        "bpm": None if c.bpm is None else float(c.bpm), "frame": _frame(c.frame, offset), "position": c.position,
        "reason": c.reason,
    })


def to_s16(audio: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> little-endian int16, rounded and clipped (no wrap-around)."""
    return np.clip(np.rint(audio * 32767.0), -32768, 32767).astype("<i2")
