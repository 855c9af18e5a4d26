"""Time-stretching with exact length contracts: Rubber Band's R3 engine (``--fine``) through
pyrubberband, pitch unchanged.

- `time_stretch(audio, sample_rate, target_frames=...)` (or ``ratio=``) returns exactly the
  frames asked for.
- `stretch_stem(stem, bpm)` makes a tempo variant of a stem: the grid's entry, exit and length
  are exact for the new tempo (a uniform stretch puts bar 1 and the last bar's end within a
  frame of them; the audio is cut to the exact length), and every layer goes through one
  multichannel call, so the
  layers are stretched identically and still sum to the mix. A main loop is stretched with one
  loop cycle of context on either side, so the stretched loop still wraps seamlessly.

Rubber Band runs as the `rubberband` CLI (a subprocess per call); this module is used at
bank-build time, never while playing.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from soundtrack.errors import AudioError, SoundtrackError
from soundtrack.stem import Stem, StemGrid, StemSpec
from soundtrack.timing import BeatGrid, as_fraction, parse_bpm, round_half_up

STRETCH_VERSION = "rubberband-r3-1"  # goes into the bank's cache key of tempo variants
RB_ARGS = {"--fine": ""}  # the R3 engine: best transients and beat timing (see ANCHORS.md)
MAX_RATIO = 4.0
LOOP_CONTEXT_SECONDS = 1.0


def _rubberband(audio: np.ndarray, sample_rate: int, factor: Fraction) -> np.ndarray:
    """Run Rubber Band R3 stretching uniformly to `factor` x the length (pitch unchanged).

    A uniform ``--tempo`` stretch, not a ``--timemap``: with the R3 engine (3.1) a time map
    leaves the first anchor's region unstretched, so anchors are met by cutting instead.
    """
    import pyrubberband

    a = np.ascontiguousarray(audio, dtype=np.float32)
    try:
        out = pyrubberband.time_stretch(a, sample_rate, float(1 / factor), rbargs=dict(RB_ARGS))
    except Exception as e:  # the CLI missing or failing: say which and how to fix it
        raise AudioError(f"rubberband failed on {a.shape[0]} frames x {a.shape[1]} channels: {e} "
                         "(is the rubberband CLI, version 3 or later, installed?)") from e
    return np.asarray(out, dtype=np.float32).reshape(-1, a.shape[1])


def _exact(audio: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad to exactly `frames` frames."""
    if audio.shape[0] >= frames:
        return np.ascontiguousarray(audio[:frames])
    pad = np.zeros((frames - audio.shape[0], audio.shape[1]), dtype=np.float32)
    return np.concatenate([audio, pad])


def time_stretch(audio: np.ndarray, sample_rate: int, *, ratio: float | Fraction | None = None,
                 target_frames: int | None = None) -> np.ndarray:
    """Stretch float32 (frames, channels) audio in time without changing pitch.

    Give `target_frames` (the exact output length) or `ratio` (output length / input length;
    2.0 = twice as long, i.e. half the tempo); the output has exactly ``target_frames`` or
    ``round(frames * ratio)`` frames.
    """
    a = np.asarray(audio, dtype=np.float32)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise AudioError(f"audio must be non-empty (frames, channels), got shape {a.shape}")
    if (ratio is None) == (target_frames is None):
        raise AudioError("give exactly one of ratio= or target_frames=")
    n = a.shape[0]
    if target_frames is None:
        r = as_fraction(ratio)  # type: ignore[arg-type]
        if not 1 / MAX_RATIO <= r <= MAX_RATIO:
            raise AudioError(f"ratio={float(r):g} must be between {1 / MAX_RATIO:g} and {MAX_RATIO:g}")
        target_frames = round_half_up(n * r)
    if isinstance(target_frames, bool) or not isinstance(target_frames, (int, np.integer)) or target_frames < 1:
        raise AudioError(f"target_frames={target_frames!r} must be a positive int")
    target_frames = int(target_frames)
    if not 1 / MAX_RATIO <= target_frames / n <= MAX_RATIO:
        raise AudioError(f"target_frames={target_frames} is {target_frames / n:g}x the input; the ratio must be "
                         f"between {1 / MAX_RATIO:g} and {MAX_RATIO:g}")
    if target_frames == n:
        return a.copy()
    return _exact(_rubberband(a, sample_rate, Fraction(target_frames, n)), target_frames)


def stretch_stem(stem: Stem, bpm: Fraction | int | float | str) -> Stem:
    """A tempo variant of `stem` at `bpm`: same bars, meter, key and pitch, exact new grid.

    Every layer is stretched in one multichannel call; the mix is recomputed as their sum.
    """
    new_bpm = parse_bpm(bpm)
    g = stem.grid
    if new_bpm == g.bpm:
        return stem
    factor = g.bpm / new_bpm  # output length / input length
    if not 1 / MAX_RATIO <= factor <= MAX_RATIO:
        raise AudioError(f"stretching {float(g.bpm):g} bpm to {float(new_bpm):g} bpm is a factor of {float(factor):g}; "
                         f"it must be between {1 / MAX_RATIO:g} and {MAX_RATIO:g}")
    new_grid_beats = BeatGrid(g.sample_rate, new_bpm, g.meter)
    beats = round_half_up(Fraction(g.body_frames) / BeatGrid(g.sample_rate, g.bpm, g.meter).frames_per_beat)
    body = new_grid_beats.beats_to_frames(beats)
    entry = round_half_up(g.entry * factor)
    tail = round_half_up(g.tail_frames * factor)
    exit_ = entry + body
    frames = exit_ + tail
    names = list(stem.layers)
    ch = stem.channels
    stacked = np.concatenate([stem.layers[k] for k in names], axis=1)  # frames x (layers * channels)
    sr = g.sample_rate
    if stem.spec.role == "main" and g.entry == 0 and g.body_frames > 0:
        # loop context each side (up to LOOP_CONTEXT_SECONDS), so the wrap point is stretched
        # like any other frame and the stretched loop still wraps seamlessly
        cycle = stacked[: g.exit]
        p = min(g.exit, int(LOOP_CONTEXT_SECONDS * sr))
        p_out = round_half_up(p * factor)
        ext = np.concatenate([cycle[g.exit - p :], cycle, cycle[:p]])
        out = _rubberband(ext, sr, factor)
        loop = _exact(out[p_out:], body)
        if tail:
            tail_src = np.concatenate([cycle[g.exit - p :], stacked[g.exit :]])
            tout = _rubberband(tail_src, sr, factor)
            result = np.concatenate([loop, _exact(tout[p_out:], tail)])
        else:
            result = loop
    else:
        result = _exact(_rubberband(stacked, sr, factor), frames)
    layers = {k: np.ascontiguousarray(result[:, i * ch : (i + 1) * ch]) for i, k in enumerate(names)}
    spec = StemSpec(**{**_spec_fields(stem.spec), "tempo": new_bpm})
    grid = StemGrid(sr, new_bpm, g.meter, entry, exit_, frames, g.bars)
    meta = {**stem.meta, "stretched_from_bpm": str(g.bpm), "stretch": "rubberband R3 (--fine)"}
    try:
        return Stem.from_layers(spec, grid, layers, key=stem.key, style=stem.style, meta=meta, midi=None)
    except SoundtrackError:
        raise


def _spec_fields(spec: StemSpec) -> dict:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}
