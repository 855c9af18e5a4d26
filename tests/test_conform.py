"""Conforming audio with a known, wobbling tempo onto an exact grid.

The test signal is a drum track (accented kick on 1, soft kick on 3, snares on 2 and 4, hats on
eighths) over a sustained chord, whose tempo wobbles sinusoidally by ±4 % around 120 bpm: the
time map is known exactly, so every beat's true position is known.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from clicks import find_clicks

from soundtrack.conform import conform
from soundtrack.errors import AudioError, TimingError
from soundtrack.stretch import timemap_stretch

SR = 48000


def beat_times(n, *, bpm=120.0, wobble=0.04, period_s=3.7, start=0.5):
    """Times (s) of `n` beats whose tempo is bpm * (1 + wobble * sin(2 pi t / period))."""
    t = [start]
    for _ in range(n - 1):
        t.append(t[-1] + 60.0 / (bpm * (1 + wobble * np.sin(2 * np.pi * t[-1] / period_s))))
    return np.array(t)


def drum_track(times, *, downbeat=1, pad=0.15, final_hit=False, tail=1.5, seed=0):
    """Stereo float32 drums at `times` (beat `downbeat` is bar 1 beat 1), a chord under them."""
    rng = np.random.default_rng(seed)
    end = times[-1] + 0.5 + tail
    n = int(end * SR)
    y = np.zeros(n)
    ramp = int(0.001 * SR)

    def hit(t, kind, amp):
        s = int(round(t * SR))
        length = int({"kick": 0.25, "snare": 0.15, "hat": 0.05}[kind] * SR)
        tt = np.arange(length) / SR
        if kind == "kick":
            sig = np.sin(2 * np.pi * (50 * tt + 2 * (1 - np.exp(-tt * 30)))) * np.exp(-tt * 12)
        elif kind == "snare":
            sig = (0.6 * rng.standard_normal(length) + 0.4 * np.sin(2 * np.pi * 190 * tt)) * np.exp(-tt * 25)
        else:
            sig = 0.3 * np.diff(rng.standard_normal(length + 1)) * np.exp(-tt * 80)
        sig[:ramp] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        e = min(n, s + length)
        y[s:e] += amp * sig[: e - s]

    for k, t in enumerate(times):
        b = (k - downbeat) % 4
        if b == 0:
            hit(t, "kick", 1.0)
        elif b == 2:
            hit(t, "kick", 0.4)
        else:
            hit(t, "snare", 0.6)
        hit(t, "hat", 0.5)
        if k + 1 < len(times):
            hit((t + times[k + 1]) / 2, "hat", 0.3)
    last = times[-1]
    if final_hit:
        last = times[-1] + (times[-1] - times[-2])
        hit(last, "kick", 1.0)
        hit(last, "snare", 0.8)
    tt = np.arange(n) / SR
    chord = sum(np.sin(2 * np.pi * f * tt) for f in (220.0, 277.18, 329.63))
    env = np.clip((tt - times[0] + 0.2) / 0.2, 0, 1) * np.clip((last + 0.6 - tt) / 1.0, 0, 1)
    y += pad * chord * env
    y /= np.abs(y).max() * 1.3
    return np.stack([y, y], axis=1).astype(np.float32)


def attack_offsets_ms(audio, frames, order=1):
    """Where the attack near each frame starts (threshold on the waveform's slope, or with
    order=2 on its second difference), in ms from it."""
    d = np.abs(np.diff(audio[:, 0], n=order, prepend=np.zeros(order)))
    out = []
    for f in frames:
        lo = max(0, f - 1500)
        seg = d[lo : f + 1500]
        out.append((lo + int(np.argmax(seg > 0.25 * seg.max())) - f) / SR * 1000)
    return np.array(out)


@pytest.fixture(scope="module")
def wobbly():
    times = beat_times(41)  # a pickup beat, then 10 bars
    return times, drum_track(times, downbeat=1)


@pytest.fixture(scope="module")
def main_loop(wobbly):
    _, y = wobbly
    return conform(y, SR, role="main", bpm=120, meter="4/4", bars=4)


def test_the_input_really_wobbles(wobbly):
    times, _ = wobbly
    bpm = 60 / np.diff(times)
    assert bpm.min() < 116 and bpm.max() > 124  # ±4 %: a grid at 120 would drift by beats


def test_main_is_whole_bars_on_an_exact_grid(main_loop):
    out, grid = main_loop
    assert (grid.bpm, grid.entry, grid.exit, grid.bars) == (Fraction(120), 0, 4 * 96000, 4)
    assert out.shape == (grid.frames, 2) and out.dtype == np.float32
    # every beat of the loop (all 16) starts within 5 ms of its grid frame
    frames = [grid.beat_grid.beat_frame(k) for k in range(1, 16)]
    off = attack_offsets_ms(out, frames)
    assert np.max(np.abs(off)) < 5.0, off
    # the music goes on past the loop end: the tail is that continuation over the 20 ms seam,
    # fading out as the head fades in over the same frames (equal power)
    assert grid.frames - grid.exit == 960 and np.max(np.abs(out[-10:])) < 0.02 * np.max(np.abs(out))


def test_librosa_finds_the_conformed_beats_on_the_grid(wobbly, main_loop):
    librosa = pytest.importorskip("librosa")
    times, y = wobbly
    out, grid = main_loop

    def beats(a):
        _, b = librosa.beat.beat_track(y=a[:, 0], sr=SR, hop_length=128, start_bpm=120, units="samples", trim=False)
        return b

    # calibrate librosa's own latency on the input, whose true beat times are known
    truth = np.round(times * SR).astype(int)
    bi = beats(y)
    lat = np.median([b - truth[np.argmin(np.abs(truth - b))] for b in bi])
    looped = np.concatenate([out[: grid.exit]] * 3)
    g = grid.beat_grid
    found = beats(looped)
    err = [(b - lat - g.beat_frame(round((b - lat) / float(g.frames_per_beat)))) / SR * 1000 for b in found]
    err = np.array(err[2:-2])  # librosa's first and last beats are unreliable
    assert len(err) >= 30
    assert np.median(np.abs(err)) < 3.0 and np.max(np.abs(err)) < 5.0, err


def repeat_error_db(played, reference, seam, at, half=96):
    """How far the loop as played around its repeat (`played` around frame `seam`) is from the
    continuous reference audio around frame `at`, in dB relative to the reference."""
    got = played[seam - half : seam + half, 0].astype(np.float64)
    ref = reference[at - half : at + half, 0].astype(np.float64)
    return 20 * np.log10(np.sqrt(np.mean((got - ref) ** 2)) / np.sqrt(np.mean(ref**2)))


def test_loop_repeat_continues_as_the_music_did(wobbly, main_loop):
    _, y = wobbly
    out, grid = main_loop
    e = grid.exit
    # the same input conformed as one piece: the continuous music the loop was cut from
    whole, wg = conform(y, SR, role="intro", bpm=120, meter="4/4")
    probe = out[24000 : 24000 + 4800, 0]
    starts = [wg.beat_grid.bar_frame(j) for j in range(wg.bars - 3)]
    at = max(starts, key=lambda s: float(np.dot(probe, whole[s + 24000 : s + 28800, 0])))
    assert np.allclose(out[48000:96000], whole[at + 48000 : at + 96000], atol=1e-6)  # it is that music
    # played as the sequencer plays a loop (each head from the previous exit, the tail under it):
    # the repeat crossfades from the music's own continuation into the loop's first downbeat
    played = np.zeros((2 * e + out.shape[0], out.shape[1]))
    for k in range(2):
        played[k * e : k * e + out.shape[0]] += out
    assert repeat_error_db(played, whole, e, at + e) < -12.0  # it continues as the music went on
    assert not find_clicks(played, SR, at=[e])
    # the measures can tell: the head repeated without its tail, 37 frames short, jumps
    cut = np.concatenate([out[: e - 37], out[:e]])
    assert find_clicks(cut, SR, at=[e - 37]) or repeat_error_db(cut, whole, e - 37, at + e) > -10.0


def test_intro_keeps_its_pickup_and_finds_bar_one():
    times = beat_times(33)
    y = drum_track(times, downbeat=1, tail=0.5)
    out, grid = conform(y, SR, role="intro", bpm=Fraction(240, 2), meter="4/4", bars=4)
    beat = 24000
    # bar 1 beat 1 is the accented kick after a one-beat pickup (which starts 0.5 s in)
    assert abs(grid.entry - 2 * beat) < 0.05 * SR
    assert grid.exit - grid.entry == 4 * 4 * beat and grid.bars == 4
    off = attack_offsets_ms(out, [grid.beat_grid.beat_frame(k) for k in range(-1, 16)])
    assert np.max(np.abs(off)) < 5.0, off


def test_outro_ends_at_its_last_downbeat_and_keeps_the_ring():
    times = beat_times(17, wobble=0.03)
    y = drum_track(times, downbeat=1, final_hit=True, tail=2.0)
    out, grid = conform(y, SR, role="outro", bpm=120, meter="4/4")
    # 16 beats from bar 1 beat 1, then the final hit on the next downbeat: 4 bars
    assert grid.bars == 4 and grid.exit == grid.entry + 4 * 96000
    assert attack_offsets_ms(out, [grid.exit])[0] == pytest.approx(0, abs=5)
    assert grid.frames - grid.exit > 0.5 * SR  # the ring is kept
    assert np.max(np.abs(out[-int(0.005 * SR):])) < 1e-3  # and ends in silence


def test_declared_first_downbeat_wins_over_detection():
    times = beat_times(33)
    y = drum_track(times, downbeat=1)
    # declare beat 3 (the soft kick) as bar 1 beat 1: the grid follows the declaration
    out, grid = conform(y, SR, role="intro", bpm=120, meter="4/4", bars=4,
                        first_downbeat=int(times[3] * SR), tempo_hint=120, tempo_declared=True)
    off = attack_offsets_ms(out, [grid.entry])
    assert abs(off[0]) < 5.0
    # the entry sits 0.5 s + three beats into the audio, not 0.5 s + one beat
    assert abs(grid.entry - 4 * 24000) < 0.05 * SR


def test_timemap_stretch_has_an_exact_length():
    x = np.random.default_rng(1).standard_normal((48000, 2)).astype(np.float32) * 0.1
    y = timemap_stretch(x, SR, [(0, 0), (24000, 26001), (48000, 50003)])
    assert y.shape == (50003, 2)
    with pytest.raises(TimingError, match="strictly increasing"):
        timemap_stretch(x, SR, [(0, 0), (24000, 30000), (30000, 29000), (48000, 50000)])


def test_silence_has_no_beat_unless_told_to_assume_one():
    quiet = np.zeros((SR * 4, 2), np.float32)
    with pytest.raises(AudioError, match="no steady beat"):
        conform(quiet, SR, role="main", bpm=120, bars=1)
    out, grid = conform(quiet, SR, role="main", bpm=120, bars=1, no_beats="assume")
    assert (grid.entry, grid.exit) == (0, 96000)


def test_a_procedural_stem_time_warped_by_a_known_map_comes_back_onto_its_grid():
    from soundtrack.generate import get_generator
    from soundtrack.stem import StemSpec

    stem = get_generator("procedural").generate(StemSpec(
        prompt="driving rock with drums", role="intro", bars=4, tempo=120, key="E minor", layers=("drums", "bass"), seed=1))
    g = stem.grid.beat_grid
    assert stem.grid.entry == 24000  # its own grid: a one-beat pickup, bar 1 at 0.5 s
    # warp it: beat k's length scaled by 1 + 5 % sin(2 pi k / 5), the pickup and tail unchanged
    src = [g.beat_frame(k) for k in range(16)]
    dst = [src[0]]
    for k in range(1, 16):
        dst.append(dst[-1] + int((src[k] - src[k - 1]) * (1 + 0.05 * np.sin(2 * np.pi * k / 5))))
    n = stem.mix.shape[0]
    warped = timemap_stretch(stem.mix, SR, [(0, 0)] + list(zip(src, dst)) + [(n, dst[-1] + n - src[-1])])
    assert max(abs(d - s) for s, d in zip(src, dst)) > 0.03 * SR  # beats moved by tens of ms
    out, grid = conform(warped, SR, role="intro", bpm=120, meter="4/4", bars=4)
    assert abs(grid.entry - 24000) < 0.005 * SR and grid.exit - grid.entry == 4 * 96000
    # percussive attacks (the second difference), every beat: the tracker drops this intro's last
    # two beats, and conform recovers them from their attacks (a constant-ratio map past the last
    # tracked beat put them 26-28 ms early)
    off = attack_offsets_ms(out, [grid.beat_grid.beat_frame(k) for k in range(16)], order=2)
    assert np.median(np.abs(off)) < 2.0 and np.max(np.abs(off)) < 5.0, off
