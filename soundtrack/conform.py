"""Conform audio to an exact grid: beats found, moved onto the grid, trimmed to whole bars.

Audio from a model or a composer arrives without a trustworthy grid: a model's "120 BPM" drifts
by several bpm, a composer's file has a pickup and a reverb tail. `conform` turns it into audio
whose every beat sits on an exact `BeatGrid` frame, with a `StemGrid` that says where bar 1 beat 1
is (`entry`), where the music ends (`exit`) and how long the audio is:

1. `soundtrack.beats.detect_beats` finds the beats and the bar phase (or takes a declared first
   downbeat and tempo).
2. Rubber Band's time map (R3 engine, ``--fine``; `soundtrack.stretch.timemap_stretch`) moves
   every detected beat onto the target grid in one pass; the audio before the first beat and
   after the last is stretched by the mean ratio. (R3 ignores the first segment of a time map, so
   a short identity segment of silence is prepended and removed afterwards.)
3. The role shapes the result:

   - ``main``: one loop cycle of whole bars, head and tail apart (the sequencer plays each cycle's
     tail on top of whatever follows it). The loop starts at the downbeat whose surroundings best
     match those of the downbeat `bars` later (chosen among all that fit), `entry` = 0 and `exit`
     = one cycle. When the music continues past the loop end, the tail is that continuation
     over a short seam (equal power, fading out) and the head fades in over the same frames, so
     a repeat crossfades from the music's own continuation into the loop's first downbeat (both
     on the grid); when what follows is a decaying tail, the head is the cycle as played and
     the tail is its ring (trimmed, faded at the very end).
   - ``intro``, ``bridge``, ``stinger``: bar 1 beat 1 at the first downbeat (the pickup before it
     kept), `bars` bars to `exit`, then the tail: a decaying tail kept, continuing music faded out
     over one beat.
   - ``outro``: `exit` is the last downbeat (the final chord); everything after it is kept as the
     tail and faded to silence at the very end.

Frames are integer sample frames; the grid tempo is an exact Fraction.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

import numpy as np

from soundtrack.audio import as_frames, fade_curve, frame_peaks
from soundtrack.beats import BeatTrack, detect_beats, find_attacks, trailing_beats
from soundtrack.errors import AudioError, TimingError
from soundtrack.stem import ROLES, StemGrid
from soundtrack.stretch import timemap_stretch
from soundtrack.timing import BeatGrid, Meter, check_sample_rate, parse_bpm

CONFORM_VERSION = "4"  # 2: main loops keep head and tail apart (no fold); 3: head rise; 4: last beats recovered
HEAD_RISE_SECONDS = 0.003  # a loop cut from a decaying recording rises over its first 3 ms
SEAM_SECONDS = 0.02  # the loop seam's equal-power overlap (at most a quarter beat): short, as it
# blends the continuation's downbeat with the loop's own
TAIL_FLOOR_DB = -70.0  # a tail is trimmed where it stays below this (dBFS)
OUTRO_FADE_SECONDS = 0.05
CORRECTION_RADIUS_SECONDS = 0.04  # how far the stretched attacks may be from their grid frames to be corrected

Role = Literal["intro", "main", "outro", "stinger", "bridge"]


def conform(
    audio: np.ndarray,
    sample_rate: int,
    *,
    role: Role,
    bpm: Fraction | int | float | str,
    meter: Meter | str = Meter(),
    bars: int | None = None,
    first_downbeat: int | None = None,
    tempo_hint: Fraction | float | None = None,
    tempo_declared: bool = False,
    no_beats: Literal["error", "assume"] = "error",
) -> tuple[np.ndarray, StemGrid]:
    """Conform `audio` (float32 frames x channels) to an exact grid at `bpm` and `meter`.

    `bars`: the musical length wanted (None: every whole bar the audio holds). `first_downbeat`:
    the sample frame of bar 1 beat 1 in the input, if known. `tempo_hint`: the input's tempo in
    bpm if known or intended (default: `bpm`); with `tempo_declared` it is trusted (a narrow
    prior), otherwise it only centres the search. `no_beats`: when no steady beat is found,
    "error" raises AudioError, "assume" takes the audio as already at `bpm` with bar 1 at
    `first_downbeat` (default 0), unstretched (a drone, or a test model's noise). Returns
    ``(audio, grid)``: float32 audio with the input's channel count whose beats are at
    ``grid.beat_grid`` frames.
    """
    if role not in ROLES:
        raise TimingError(f"role={role!r} must be one of {', '.join(ROLES)}")
    check_sample_rate(sample_rate)
    bpm = parse_bpm(bpm)
    meter = Meter.parse(meter)
    if bars is not None and (isinstance(bars, bool) or not isinstance(bars, int) or bars < 1):
        raise TimingError(f"bars={bars!r} must be a positive int or None")
    x = as_frames(audio)
    hint = float(tempo_hint) if tempo_hint is not None else float(bpm)
    if no_beats not in ("error", "assume"):
        raise TimingError(f"no_beats={no_beats!r} must be 'error' or 'assume'")
    try:
        track = detect_beats(
            x, sample_rate, beats_per_bar=meter.beats, tempo_hint=hint,
            hint_octaves=0.1 if tempo_declared else 0.5, first_downbeat=first_downbeat,
        )
        y, grid, beats_out = _align(x, sample_rate, track, bpm, meter)
    except AudioError:
        if no_beats == "error":
            raise
        y, grid, track, beats_out = _assume_grid(x, sample_rate, bpm, meter, first_downbeat or 0)
    if role == "main":
        return _shape_main(y, grid, track, beats_out, bars)
    if role == "outro":
        return _shape_outro(y, grid, track, beats_out, bars)
    return _shape_once(y, grid, track, beats_out, bars)


def _align(x: np.ndarray, sr: int, track: BeatTrack, bpm: Fraction, meter: Meter) -> tuple[np.ndarray, BeatGrid, np.ndarray]:
    """Stretch so tracked beat k lands on grid beat ``k - downbeat``; return audio, grid, beat frames."""
    n = x.shape[0]
    fpb = Fraction(sr * 60) / bpm
    ratio = float(fpb) / float(np.mean(np.diff(track.beats)))
    beats = trailing_beats(x, sr, track.beats)
    d0 = track.downbeat
    # entry so the first tracked beat keeps its (scaled) distance from the start
    first_target = int(round(beats[0] * ratio))
    entry = first_target + BeatGrid(sr, bpm, meter, 0).beats_to_frames(d0)
    grid = BeatGrid(sr, bpm, meter, entry)
    targets = np.array([grid.beat_frame(k - d0) for k in range(beats.shape[0])], dtype=np.int64)
    # beats too close to the start (after refinement) would make the map non-monotonic
    keep = (beats > 0) & (targets > 0) & (beats < n)
    src, dst = beats[keep], targets[keep]
    total = int(dst[-1] + round((n - src[-1]) * ratio)) if src.size else int(round(n * ratio))
    y = timemap_stretch(x, sr, _time_map(src, dst, n, total))
    # Rubber Band's R3 time map lands beats about 2 ms early (a near-constant lag, measured,
    # that moving the map does not remove): measure where the attacks came out and delay (or
    # advance) the whole output by the median residual.
    radius = int(CORRECTION_RADIUS_SECONDS * sr)
    got, found = find_attacks(y, sr, dst, radius=radius)
    err = (got - dst)[found]
    err = err[np.abs(err) < radius]
    if err.size >= 2:
        lag = -int(np.round(np.median(err)))
        if lag > 0:
            y = np.concatenate([np.zeros((lag, y.shape[1]), np.float32), y[: y.shape[0] - lag]])
        elif lag < 0:
            y = np.concatenate([y[-lag:], np.zeros((-lag, y.shape[1]), np.float32)])
    return y, grid, targets


def _assume_grid(x: np.ndarray, sr: int, bpm: Fraction, meter: Meter, entry: int) -> tuple[np.ndarray, BeatGrid, BeatTrack, np.ndarray]:
    """No beat found: the grid the audio was asked to have, from `entry`, and no stretching."""
    grid = BeatGrid(sr, bpm, meter, int(entry))
    n_beats = max(2, int((x.shape[0] - entry) / grid.frames_per_beat))
    beats = np.array([grid.beat_frame(k) for k in range(n_beats)], dtype=np.int64)
    track = BeatTrack(beats=beats, downbeat=0, beats_per_bar=meter.beats, bpm=float(bpm), strength=np.zeros(n_beats))
    return x.copy(), grid, track, beats


def _time_map(src: np.ndarray, dst: np.ndarray, n: int, total: int) -> list[tuple[int, int]]:
    tm = [(0, 0)] + list(zip(src.tolist(), dst.tolist()))
    if total <= tm[-1][1]:
        total = tm[-1][1] + 1
    if n > tm[-1][0]:
        tm.append((n, total))
    else:
        tm[-1] = (n, total)
    return tm


def _fade_tail(a: np.ndarray, n: int) -> np.ndarray:
    """Fade the last `n` frames of `a` to silence (equal-power, i.e. cosine) in place."""
    n = min(n, a.shape[0])
    if n > 0:
        a[a.shape[0] - n :] *= fade_curve(n, "equal-power", fade_in=False)[:, None]
    return a


def _trim_silence(a: np.ndarray, start: int) -> np.ndarray:
    """Cut `a` after its last frame (at or after `start`) above TAIL_FLOOR_DB."""
    floor = 10 ** (TAIL_FLOOR_DB / 20)
    loud = np.flatnonzero(frame_peaks(a[start:]) > floor) if a.shape[0] > start else np.zeros(0)
    end = start + (int(loud[-1]) + 1 if loud.size else 0)
    return a[:end]


def _music_continues(y: np.ndarray, at: int, beat: int, ref: tuple[int, int]) -> bool:
    """True when the second beat after `at` is within 15 dB of the music in `ref` (not a tail)."""
    seg = y[at + beat : at + 2 * beat]
    body = y[ref[0] : ref[1]]
    if seg.shape[0] < beat // 2 or body.size == 0:
        return False
    rms = lambda a: float(np.sqrt(np.mean(np.square(a, dtype=np.float64))) + 1e-12)  # noqa: E731
    return 20 * np.log10(rms(seg) / rms(body)) > -15.0


def _whole_bars(grid: BeatGrid, targets: np.ndarray) -> int:
    """Whole bars from the first downbeat to one beat past the last tracked beat (at least 1)."""
    fpb = grid.frames_per_beat
    music_end = int(targets[-1]) + int(fpb)
    return max(1, int(round(float(Fraction(music_end - grid.origin) / grid.frames_per_bar))))


def _stem_grid(grid: BeatGrid, entry: int, exit_: int, frames: int, bars: int) -> StemGrid:
    return StemGrid(sample_rate=grid.sample_rate, bpm=grid.bpm, meter=grid.meter, entry=entry, exit=exit_, frames=frames, bars=bars)


def _shape_once(y: np.ndarray, grid: BeatGrid, track: BeatTrack, targets: np.ndarray, bars: int | None) -> tuple[np.ndarray, StemGrid]:
    """Intro / bridge / stinger: pickup, `bars` bars from the first downbeat, then the tail."""
    if bars is None:
        bars = _whole_bars(grid, targets)
    entry = grid.origin
    exit_ = grid.bar_frame(bars)
    beat = int(grid.frames_per_beat)
    if exit_ > y.shape[0]:
        y = np.concatenate([y, np.zeros((exit_ - y.shape[0], y.shape[1]), np.float32)])
    if _music_continues(y, exit_, beat, (entry, exit_)):
        out = _fade_tail(y[: min(y.shape[0], exit_ + beat)].copy(), min(beat, y.shape[0] - exit_))
    else:
        out = _trim_silence(y.copy(), exit_)
        out = _fade_tail(out, min(int(OUTRO_FADE_SECONDS * grid.sample_rate), out.shape[0] - exit_))
    return out, _stem_grid(grid, entry, exit_, out.shape[0], bars)


def _shape_outro(y: np.ndarray, grid: BeatGrid, track: BeatTrack, targets: np.ndarray, bars: int | None) -> tuple[np.ndarray, StemGrid]:
    """Outro: exit at the last downbeat within `bars` (all of them if None); keep the tail."""
    d0 = track.downbeat
    last_beat = len(targets) - 1 - d0  # grid beat index of the last tracked beat
    last_bar = max(1, last_beat // grid.meter.beats)
    if bars is not None:
        last_bar = min(bars, last_bar) if last_bar >= 1 else bars
    entry = grid.origin
    exit_ = grid.bar_frame(last_bar)
    if exit_ > y.shape[0]:
        y = np.concatenate([y, np.zeros((exit_ - y.shape[0], y.shape[1]), np.float32)])
    out = _trim_silence(y.copy(), exit_)
    if bars is not None and out.shape[0] > exit_ + int(4 * grid.frames_per_bar):
        out = out[: exit_ + int(4 * grid.frames_per_bar)]  # a model that never stops: 4 bars of ring
    fade = max(int(OUTRO_FADE_SECONDS * grid.sample_rate), (out.shape[0] - exit_) // 2)
    out = _fade_tail(out, min(fade, out.shape[0] - exit_))
    return out, _stem_grid(grid, entry, exit_, out.shape[0], last_bar)


def _similarity(y: np.ndarray, a: int, b: int, half: int) -> float:
    """Cosine similarity of the log spectra around frames `a` and `b` (±`half` frames)."""
    def spec(c: int) -> np.ndarray:
        seg = y[max(0, c - half) : c + half].mean(axis=1)
        if seg.shape[0] < 2 * half:
            seg = np.concatenate([seg, np.zeros(2 * half - seg.shape[0], np.float32)])
        return np.log1p(100.0 * np.abs(np.fft.rfft(seg * np.hanning(seg.shape[0]))))

    sa, sb = spec(a), spec(b)
    return float(sa @ sb / (np.linalg.norm(sa) * np.linalg.norm(sb) + 1e-12))


def _shape_main(y: np.ndarray, grid: BeatGrid, track: BeatTrack, targets: np.ndarray, bars: int | None) -> tuple[np.ndarray, StemGrid]:
    """Main: one cycle of whole bars, entry 0: its head, then its tail (see module docstring)."""
    sr = grid.sample_rate
    beat = int(grid.frames_per_beat)
    music_end = int(targets[-1]) + beat
    whole = _whole_bars(grid, targets)
    if bars is None:
        bars = whole
    # candidate loop starts: downbeats (bar index 0 = the first) whose loop end still lies
    # within the tracked music
    starts = [j for j in range(0, max(1, whole - bars + 1)) if grid.bar_frame(j + bars) <= music_end + beat // 2]
    if not starts:
        starts = [0]
    seam = max(1, min(int(SEAM_SECONDS * sr), beat // 4))
    j = max(starts, key=lambda i: (_similarity(y, grid.bar_frame(i), grid.bar_frame(i + bars), beat // 2), -i))
    start, end = grid.bar_frame(j), grid.bar_frame(j + bars)
    if end + seam > y.shape[0]:
        y = np.concatenate([y, np.zeros((end + seam - y.shape[0], y.shape[1]), np.float32)])
    body = y[start:end].copy()
    after = y[end:]
    if _music_continues(y, end, beat, (start, end)):
        body[:seam] *= fade_curve(seam, "equal-power", fade_in=True)[:, None]
        tail = after[:seam] * fade_curve(seam, "equal-power", fade_in=False)[:, None]
    else:
        tail = _trim_silence(after.copy(), 0)
        tail = _fade_tail(tail, min(int(OUTRO_FADE_SECONDS * sr), tail.shape[0]))
        # cut from a recording, the head may start on whatever rang before its downbeat: it
        # rises over a few ms (under the previous cycle's own tail) instead of stepping in
        n = max(1, min(int(HEAD_RISE_SECONDS * sr), seam))
        body[:n] *= fade_curve(n, "equal-power", fade_in=True)[:, None]
    out = np.ascontiguousarray(np.concatenate([body, tail]), dtype=np.float32)
    sg = _stem_grid(grid.shifted(0), 0, end - start, out.shape[0], bars)
    return out, sg

