"""Time-stretching with exact length contracts: Rubber Band's R3 engine (``--fine``), pitch
unchanged.

- `time_stretch(audio, sample_rate, target_frames=...)` (or ``ratio=``) returns exactly the
  frames asked for.
- `timemap_stretch(audio, sample_rate, time_map)` moves each source frame of a time map onto its
  target frame (how `conform` puts detected beats on the grid), with an exact length.
- `stretch_stem(stem, bpm)` makes a tempo variant of a stem: the grid's entry, exit and length
  are exact for the new tempo (`stretched_grid`; a uniform stretch puts bar 1 and the last bar's
  end within a frame of them; the audio is cut to the exact length), and every layer goes through
  one multichannel call, so the layers are stretched identically and still sum to the mix. A
  main loop's head and tail are stretched as one piece (after silence, as the head starts dry),
  so the stretched tail still continues the stretched head.

Rubber Band runs as the `rubberband` CLI (a subprocess per call, through 32-bit float WAV files,
scaled to `RB_PEAK` and back as the CLI clips at full scale); this module is used at bank-build
and import time, never while playing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from soundtrack.audio import as_frames, fade_curve
from soundtrack.errors import AudioError, SoundtrackError, TimingError
from soundtrack.stem import Stem, StemGrid, StemSpec
from soundtrack.timing import BeatGrid, as_fraction, parse_bpm, round_half_up

STRETCH_VERSION = "rubberband-r3-5"  # the bank's cache key of tempo variants; 3: loops as head + tail; 4: float files; 5: head rise
RB_ARGS = ("--fine",)  # the R3 engine: best transients and beat timing (see ANCHORS.md)
# the CLI clips at full scale: every call runs at this peak (6 dB of headroom for Rubber Band's
# overshoot) and is scaled back; float files keep quiet audio's resolution
RB_PEAK = 0.5
RB_TIMEOUT_SECONDS = 600
MAX_RATIO = 4.0
LOOP_CONTEXT_SECONDS = 1.0
HEAD_RISE_SECONDS = 0.003  # a stretched loop's head rises over its first 3 ms (see stretch_stem)
_RB_LEAD_SECONDS = 0.25  # identity segment prepended for Rubber Band R3's time map


def _rubberband(audio: np.ndarray, sample_rate: int, *, frames: int, factor: Fraction | None = None,
                time_map: list[tuple[int, int]] | None = None, skip: int = 0) -> np.ndarray:
    """Run Rubber Band (`RB_ARGS`) on float32 (frames, channels) `audio`, stretched uniformly to
    `factor` x its length or along `time_map` (``[(source_frame, target_frame), ...]``), pitch
    unchanged. Returns exactly `frames` frames of the output from frame `skip` on (cut, or
    zero-padded), at the input's level.

    The CLI reads and writes 32-bit float WAV files here (nothing is quantised); it clips its
    output at full scale, so every call runs at `RB_PEAK` and is scaled back."""
    a = np.ascontiguousarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    scale = RB_PEAK / peak if peak > 0 else 1.0
    if time_map is not None:
        ratio = Fraction(int(time_map[-1][1]), max(1, int(time_map[-1][0])))
    elif factor is not None:
        ratio = Fraction(factor)
    else:
        raise AudioError("rubberband: give a stretch factor or a time map")
    exe = shutil.which("rubberband")
    if exe is None:
        raise AudioError("rubberband is not installed (the Rubber Band CLI, version 3 or later: "
                         "Debian/Ubuntu: sudo apt-get install rubberband-cli; macOS: brew install rubberband)")
    with tempfile.TemporaryDirectory(prefix="soundtrack-rb-") as tmp:
        src, dst, tmap = Path(tmp, "in.wav"), Path(tmp, "out.wav"), Path(tmp, "map.txt")
        sf.write(src, a * np.float32(scale), sample_rate, subtype="FLOAT")
        args = [exe, "-q", *RB_ARGS, "--time", repr(float(ratio))]
        if time_map is not None:
            tmap.write_text("".join(f"{int(s_)} {int(d)}\n" for s_, d in time_map))
            args += ["--timemap", str(tmap)]
        try:
            subprocess.run(args + [str(src), str(dst)], check=True, capture_output=True, timeout=RB_TIMEOUT_SECONDS)
            out, _ = sf.read(dst, dtype="float32", always_2d=True)
        except subprocess.CalledProcessError as e:
            msg = (e.stderr or b"").decode(errors="replace").strip().splitlines()
            raise AudioError(f"rubberband failed on {a.shape[0]} frames x {a.shape[1]} channels: "
                             f"{msg[-1] if msg else 'exit ' + str(e.returncode)}") from None
        except (OSError, subprocess.TimeoutExpired, sf.LibsndfileError) as e:
            raise AudioError(f"rubberband failed on {a.shape[0]} frames x {a.shape[1]} channels: {e}") from None
    y = out.reshape(-1, a.shape[1])[skip:] / np.float32(scale)
    if y.shape[0] >= frames:
        return np.ascontiguousarray(y[:frames], dtype=np.float32)
    return np.concatenate([y, np.zeros((frames - y.shape[0], a.shape[1]), dtype=np.float32)])


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
    return _rubberband(a, sample_rate, factor=Fraction(target_frames, n), frames=target_frames)


def timemap_stretch(audio: np.ndarray, sample_rate: int, time_map: list[tuple[int, int]]) -> np.ndarray:
    """Rubber Band R3 (``--fine``) time-map stretch with an exact length contract.

    `time_map` is ``[(source_frame, target_frame), ...]``, strictly increasing in both, starting at
    (0, 0) and ending at ``(len(audio), T)``; returns exactly `T` frames (float32, same channels),
    with each source frame of the map at its target frame (within about 2 ms).
    """
    x = as_frames(audio)
    n = x.shape[0]
    if not time_map or tuple(time_map[0]) != (0, 0) or int(time_map[-1][0]) != n:
        raise TimingError(f"time map must run from (0, 0) to ({n}, T), got {time_map[:1]} ... {time_map[-1:]}")
    src = np.array([p[0] for p in time_map], dtype=np.int64)
    dst = np.array([p[1] for p in time_map], dtype=np.int64)
    if np.any(np.diff(src) <= 0) or np.any(np.diff(dst) <= 0):
        raise TimingError("time map must be strictly increasing in source and target frames")
    target = int(dst[-1])
    # R3 leaves a time map's first segment unstretched: prepend an identity lead of silence,
    # run at the first segment's ratio so the stretcher does not have to ramp, and cut it after
    lead = int(_RB_LEAD_SECONDS * sample_rate)
    padded = np.concatenate([np.zeros((lead, x.shape[1]), np.float32), x])
    first = next(((int(s), int(d)) for s, d in zip(src, dst) if s > 0), (n, target))
    lead_t = max(1, int(round(lead * first[1] / first[0])))
    tm = [(0, 0), (lead, lead_t)] + [(lead + int(s), lead_t + int(d)) for s, d in zip(src, dst) if s > 0]
    return _rubberband(padded, sample_rate, time_map=tm, skip=lead_t, frames=target)


def stretched_grid(grid: StemGrid, bpm: Fraction) -> StemGrid:
    """The exact grid `stretch_stem` gives a stem with grid `grid` at `bpm`: the body the same
    whole number of beats at the new tempo, the pickup and the tail scaled (rounded half up)."""
    if bpm == grid.bpm:
        return grid
    factor = grid.bpm / bpm  # output length / input length
    beats = round_half_up(Fraction(grid.body_frames) / BeatGrid(grid.sample_rate, grid.bpm, grid.meter).frames_per_beat)
    body = BeatGrid(grid.sample_rate, bpm, grid.meter).beats_to_frames(beats)
    entry = round_half_up(grid.entry * factor)
    tail = round_half_up(grid.tail_frames * factor)
    return StemGrid(grid.sample_rate, bpm, grid.meter, entry, entry + body, entry + body + tail, grid.bars)


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
    grid = stretched_grid(g, new_bpm)
    names = list(stem.layers)
    ch = stem.channels
    stacked = np.concatenate([stem.layers[k] for k in names], axis=1)  # frames x (layers * channels)
    sr = g.sample_rate
    # a uniform --tempo stretch, not a --timemap: with the R3 engine (3.1) a time map leaves the
    # first anchor's region unstretched, so the grid is met by cutting instead
    if stem.spec.role == "main" and g.entry == 0 and g.body_frames > 0:
        # a loop's head starts dry (the cycle before rings in its own tail, not in this head):
        # silence in front lets its first attack stretch like any other; the head and its tail
        # are stretched as the one performance they are, so the tail still continues the head
        p = min(g.exit, int(LOOP_CONTEXT_SECONDS * sr))
        p_out = round_half_up(p * factor)
        ext = np.concatenate([np.zeros((p, stacked.shape[1]), stacked.dtype), stacked])
        result = _rubberband(ext, sr, factor=factor, skip=p_out, frames=grid.frames)
        # Rubber Band smears the first attack back into the silence before it (a few ms of
        # pre-echo): cut there, the head would start on a step; it rises over HEAD_RISE_SECONDS
        # instead, under the previous cycle's tail
        n = max(1, min(int(HEAD_RISE_SECONDS * sr), grid.body_frames // 4))
        result[:n] *= fade_curve(n, "equal-power", fade_in=True)[:, None]
    else:
        result = _rubberband(stacked, sr, factor=factor, frames=grid.frames)
    layers = {k: np.ascontiguousarray(result[:, i * ch : (i + 1) * ch]) for i, k in enumerate(names)}
    spec = StemSpec(**{**_spec_fields(stem.spec), "tempo": new_bpm})
    meta = {**stem.meta, "stretched_from_bpm": str(g.bpm), "stretch": "rubberband R3 (--fine)"}
    try:
        return Stem.from_layers(spec, grid, layers, key=stem.key, style=stem.style, meta=meta, midi=None)
    except SoundtrackError:
        raise


def _spec_fields(spec: StemSpec) -> dict:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}
