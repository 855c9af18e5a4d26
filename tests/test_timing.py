"""Musical time must be exact: integer frames from rational arithmetic, never drifting."""

from fractions import Fraction

import numpy as np
import pytest

from soundtrack.errors import TimingError
from soundtrack.timing import (
    BeatGrid,
    Duration,
    Meter,
    parse_bpm,
    parse_duration,
    parse_time,
)

HOUR = 3600


def exact_beat_frame(n: int, sr: int, bpm: Fraction, origin: int = 0) -> int:
    """Independent integer-only reference: round_half_up(n * sr * 60 / bpm)."""
    p, q = bpm.numerator, bpm.denominator
    return origin + (2 * n * sr * 60 * q + p) // (2 * p)


@pytest.mark.parametrize("sr", [44_100, 48_000])
@pytest.mark.parametrize("bpm_text,meter", [("123.7", "7/8"), ("123.7", "4/4"), ("97.3", "5/4"), ("173.333", "3/4"), ("60", "6/8")])
def test_every_beat_and_bar_of_an_hour_is_exact(sr, bpm_text, meter):
    bpm = parse_bpm(bpm_text)
    grid = BeatGrid(sr, bpm, Meter.parse(meter), origin=1234)
    beats_in_hour = int(HOUR * bpm / 60) + 1
    ref = np.array([exact_beat_frame(n, sr, bpm, 1234) for n in range(beats_in_hour)], dtype=np.int64)
    got = np.array([grid.beat_frame(n) for n in range(beats_in_hour)], dtype=np.int64)
    np.testing.assert_array_equal(got, ref)
    # bars are beats at multiples of the meter
    bars = beats_in_hour // grid.meter.beats
    for b in (0, 1, 7, bars // 2, bars - 1):
        assert grid.bar_frame(b) == ref[b * grid.meter.beats]
    # the last beat of the hour sits where rational arithmetic puts it, within one hour of audio
    assert abs(got[-1] - 1234 - HOUR * sr) <= grid.frames_per_beat
    # a float clock accumulating seconds per beat would have drifted: the test can tell
    spb = 60.0 / float(bpm)
    float_frames = np.round(1234 + np.cumsum(np.full(beats_in_hour - 1, np.float32(spb * sr)), dtype=np.float32))
    assert np.any(float_frames.astype(np.int64) != ref[1:])


@pytest.mark.parametrize("sr", [44_100, 48_000])
def test_positions_round_trip_over_an_hour(sr):
    grid = BeatGrid(sr, parse_bpm(123.7), Meter.parse("7/8"))
    total = grid.beat_index_at(HOUR * sr)
    for n in list(range(0, 50)) + list(range(total - 50, total)):
        f = grid.beat_frame(n)
        assert grid.beat_index_at(f) == n
        assert grid.beat_index_at(f - 1) == n - 1
        pos = grid.position(f)
        assert (pos.bar - 1) * 7 + (pos.beat - 1) == n and pos.offset == 0
        assert grid.next_beat(f) == f
        assert grid.next_beat(f + 1) == grid.beat_frame(n + 1)
        nb = grid.next_bar(f + 1)
        assert nb > f and (grid.beat_index_at(nb)) % 7 == 0 and nb - f <= grid.frames_per_bar + 1


def test_pickups_are_negative_beats_before_the_origin():
    grid = BeatGrid(48_000, Fraction(120), Meter(4, 4), origin=24_000)
    assert grid.beat_frame(-1) == 0
    assert grid.position(0).bar == 0 and grid.position(0).beat == 4
    assert str(grid.position(24_000)) == "1:1"
    assert str(grid.position(24_000 + 3 * 24_000)) == "1:4"
    assert str(grid.position(24_000 + 4 * 24_000)) == "2:1"


def test_phrase_boundaries():
    grid = BeatGrid(48_000, Fraction(120), Meter(4, 4))
    bar = 96_000
    assert grid.next_bar(1, every=4) == 4 * bar
    assert grid.next_bar(4 * bar, every=4) == 4 * bar
    assert grid.next_bar(4 * bar + 1, every=4) == 8 * bar


@pytest.mark.parametrize("value,frames", [(1, 24_000), ("2 bars", 192_000), ("1.5 beats", 36_000), ("0.5s", 24_000), ("250ms", 12_000), (0, 0)])
def test_durations_convert_once_against_a_grid(value, frames):
    grid = BeatGrid(48_000, Fraction(120), Meter(4, 4))
    assert parse_duration(value).to_frames(grid) == frames


def test_times_in_seconds_or_bars():
    grid = BeatGrid(48_000, Fraction(120), Meter(4, 4))
    assert parse_time("12.5s").to_frame(grid) == 600_000
    assert parse_time(12.5).to_frame(grid) == 600_000
    assert parse_time("bar 9").to_frame(grid) == 8 * 96_000
    assert parse_time("bar 9 beat 3").to_frame(grid) == 8 * 96_000 + 48_000
    assert parse_time("9:3").to_frame(grid) == 8 * 96_000 + 48_000


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: parse_bpm(500), "between 20 and 300"),
        (lambda: parse_bpm("fast"), "beats per minute"),
        (lambda: Meter.parse("4/5"), "unit=5 must be one of 1, 2, 4, 8, 16, 32"),
        (lambda: Meter.parse("four"), "must look like '4/4'"),
        (lambda: parse_duration("2 fortnights"), "must look like"),
        (lambda: parse_time("bar 0"), "count from 1"),
        (lambda: BeatGrid(1000, Fraction(120)), "sample_rate=1000"),
    ],
)
def test_bad_values_get_clear_errors(call, message):
    with pytest.raises(TimingError, match=message) as e:
        call()
    assert isinstance(e.value, ValueError)


def test_bpm_parsing_is_exact():
    assert parse_bpm(123.7) == Fraction(1237, 10)
    assert parse_bpm("96 bpm") == 96
    assert parse_bpm("96BPM") == 96
    assert Duration(Fraction(2), "bars") == parse_duration("2 bars")
