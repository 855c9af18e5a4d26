"""The procedural renderer on hand-written scores: exact frames, loop heads and tails, loudness, MIDI."""

from __future__ import annotations

import io
from fractions import Fraction as F

import mido
import numpy as np
import pyloudnorm
import pytest
from clicks import find_clicks

from soundtrack.analysis import detect_onsets
from soundtrack.errors import GenerationError
from soundtrack.generate.procedural.effects import reverb, reverb_ir
from soundtrack.generate.procedural.midi import key_signature_name, score_to_midi
from soundtrack.generate.procedural.render import default_soundfont, note_frames, place, render_score, steady_cycle
from soundtrack.generate.procedural.score import Part, Score
from soundtrack.generate.procedural import ProceduralGenerator
from soundtrack.generate.procedural.synth import SYNTHS, NoteEvent, kit_pitches, render_notes
from soundtrack.pitch import Key
from soundtrack.stem import StemSpec
from soundtrack.timing import Meter

SR = 48_000


def _score(*, role="main", loop=True, bars=2, bpm=F(120), meter=Meter(4, 4), pickup=F(0)) -> Score:
    s = Score(bpm=bpm, meter=meter, key=Key.parse("D minor"), bars=bars, role=role, style="test", loop=loop,
              pickup_beats=pickup, reverb_seconds=1.2)
    beats = bars * meter.beats
    drums = Part("drums", "kit", is_drum=True, reverb=0.1)
    for b in range(beats):
        drums.add(b, F(1, 4), 36 if b % 2 == 0 else 38, 100)
        drums.add(F(b) + F(1, 2), F(1, 4), 42, 70)
    bass = Part("bass", "fingered bass", program=33, reverb=0.0)
    for b in range(0, beats, 2):
        bass.add(b, 2, 38 if b % 4 == 0 else 45, 90)
    pad = Part("harmony", "strings", program=48, reverb=0.4, pan=-0.3)
    for bar in range(bars):
        for p in (62, 65, 69):
            pad.add(bar * meter.beats, meter.beats, p, 70)
    lead = Part("melody", "lead", synth="saw_lead", reverb=0.3, pan=0.3)
    for b in range(0, beats, 2):
        lead.add(b, 1, 74 + (b % 3) * 2, 90)
    s.parts = [drums, bass, pad, lead]
    s.chords = [(2, "min")] * bars
    return s


@pytest.fixture(scope="module")
def sf2() -> str:
    return default_soundfont()


# -- placement: exact frames -------------------------------------------------------------------


def test_entry_and_exit_frames_follow_bars_meter_tempo_exactly():
    s = _score(role="intro", loop=False, bars=3, bpm=F(1237, 10), meter=Meter(7, 8), pickup=F(3, 2))
    s.parts[0].add(F(-3, 2), F(1, 4), 38, 90)  # pickup snare hit
    p = place(s, sample_rate=SR)
    fpb = F(SR * 60) / F(1237, 10)  # 23282.13... frames per eighth
    assert p.entry == int(F(3, 2) * fpb + F(1, 2))  # round half up
    assert p.exit == p.entry + int(21 * fpb + F(1, 2))  # 3 bars of 7 eighths
    notes = note_frames(s.parts[0], p)
    assert notes[0][0] == 0  # the pickup note is the very first frame
    on = {n[0] for n in notes}
    assert p.entry + int(5 * fpb + F(1, 2)) in on  # beat 6 of bar 1 (a kick)


def test_a_loop_wraps_its_pickup_to_the_end_of_the_cycle():
    s = _score(bars=2)
    s.parts[1].add(F(-1, 2), F(1, 2), 50, 80)
    p = place(s, sample_rate=SR)
    assert (p.entry, p.exit) == (0, 2 * 4 * 24_000)
    assert (8 * 24_000 - 12_000, 8 * 24_000, 50, 80) in note_frames(s.parts[1], p)


def test_synth_notes_start_on_their_exact_frame():
    s = Score(bpm=F(97), meter=Meter(3, 4), key=Key(), bars=2, role="intro", style="t", loop=False, reverb_seconds=1.0)
    part = Part("bass", "tri", synth="triangle", reverb=0.0)
    part.add(F(4, 3), 1, 45, 100)
    s.parts = [part]
    r = render_score(s, sample_rate=SR, soundfont="unused.sf2")
    onset = int(F(4, 3) * F(SR * 60, 97) + F(1, 2))
    a = r.layers["bass"]
    assert not np.any(a[:onset])
    assert np.max(np.abs(a[onset : onset + 48])) > 1e-3  # sounding within 1 ms
    assert (r.entry, r.exit) == (0, int(6 * F(SR * 60, 97) + F(1, 2)))


# -- roles -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def renders(sf2):
    out = {}
    for role, loop in (("main", True), ("intro", False), ("outro", False)):
        out[role] = render_score(_score(role=role, loop=loop), sample_rate=SR, soundfont=sf2, seed=3)
    return out


def _mix(r):
    m = np.zeros((r.frames, 2), np.float32)
    for a in r.layers.values():
        m += a
    return m


def play_cycles(*cycles) -> np.ndarray:
    """Loop cycles (audio, exit) back to back as the sequencer plays them: each head starts at
    the previous cycle's exit while everything before rings on (heads and tails summed)."""
    total = sum(e for _, e in cycles[:-1]) + cycles[-1][0].shape[0]
    total = max(total, max(sum(e for _, e in cycles[:i]) + a.shape[0] for i, (a, _) in enumerate(cycles)))
    out = np.zeros((total, cycles[0][0].shape[1]))
    at = 0
    for a, e in cycles:
        out[at : at + a.shape[0]] += a
        at += e
    return out


def test_main_loop_head_starts_dry_and_repeats_like_the_continuous_performance(renders):
    main = renders["main"]
    mix, e = _mix(main), main.exit
    # nothing of an earlier cycle rings in the head: it starts as the music starts
    assert np.max(np.abs(mix[:8])) < 1e-3
    assert main.frames > e + SR // 4  # and the tail is kept apart: reverb and releases after exit
    played = play_cycles((mix, e), (mix, e), (mix, e))
    assert not find_clicks(played, SR, at=[e, 2 * e])
    # a repeat is the same music continued: the second cycle's first beat is the first's
    # plus the first's tail, exactly
    np.testing.assert_allclose(played[e : e + 4800], mix[:4800] + mix[e : e + 4800], atol=1e-6)


def test_a_loop_without_its_tail_clicks_and_a_folded_one_doubles_at_a_variant_change():
    """The two ways to get a loop seam wrong, both caught by the detector."""
    s = Score(bpm=F(120), meter=Meter(4, 4), key=Key(), bars=1, role="main", style="t", loop=True, reverb_seconds=1.0)
    part = Part("harmony", "tri", synth="triangle", reverb=0.5)
    part.add(F(0), F(4), 57, 100)  # held to the very end: its release and reverb spill past the loop end
    s.parts = [part]
    r = render_score(s, sample_rate=SR, soundfont="unused.sf2")
    a, e = r.layers["harmony"].astype(np.float64), r.exit
    good = play_cycles((a, e), (a, e))
    assert not find_clicks(good, SR, at=[e])
    cut = np.concatenate([a[:e], a[:e]])  # the head repeated, its tail dropped
    assert find_clicks(cut, SR, at=[e])
    # the old bank format: each loop's own tail folded onto its head, then followed by a
    # different loop (here: the same notes a fifth up, dry at first) -> the tail steps in twice
    s2 = Score(**{**s.__dict__})
    p2 = Part("harmony", "tri", synth="triangle", reverb=0.5)
    p2.add(F(0), F(4), 64, 100)
    s2.parts = [p2]
    b = render_score(s2, sample_rate=SR, soundfont="unused.sf2").layers["harmony"].astype(np.float64)
    folded_a = steady_cycle(a, e)
    folded_b = steady_cycle(b, e)
    doubled = np.concatenate([folded_a, folded_b])  # b's head carries b's own tail where a's rings
    assert find_clicks(doubled, SR, at=[e])
    assert not find_clicks(play_cycles((a, e), (b, e)), SR, at=[e])


def test_steady_cycle_equals_repeating_the_cycle():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2500, 2))
    period = 1000
    body = steady_cycle(x, period)
    n = 6 * period + x.shape[0]
    y = np.zeros((n, 2))
    for k in range(6):
        y[k * period : k * period + x.shape[0]] += x
    np.testing.assert_allclose(body, y[4 * period : 5 * period])


def test_outro_rings_out_to_silence(renders):
    r = renders["outro"]
    mix = _mix(r)
    assert r.frames > r.exit + SR // 2  # it rings past the last bar
    after = mix[r.exit : r.exit + SR // 10]
    assert 20 * np.log10(np.max(np.abs(after))) > -40  # audibly
    last = mix[-SR // 20 :]
    assert 20 * np.log10(np.max(np.abs(last)) + 1e-12) < -60


def test_intro_tail_is_trimmed_where_it_falls_below_minus_70_dbfs(renders):
    r = renders["intro"]
    mix = _mix(r)
    assert SR // 2 < r.frames - r.exit < 4 * SR
    # cut where it reaches the floor: the last 20 ms are near -70 dBFS, neither loud nor long silent
    last = 20 * np.log10(np.max(np.abs(mix[-SR // 50 :])))
    assert -80 < last < -60


def test_loudness_and_peak_are_matched_with_one_gain_for_all_layers(renders):
    meter = pyloudnorm.Meter(SR)
    for role, r in renders.items():
        mix = _mix(r)
        lufs = meter.integrated_loudness(mix[r.entry : r.exit].astype(np.float64))
        assert abs(lufs - (-18.0)) < 0.5, (role, lufs)
        for a in [mix, *r.layers.values()]:
            assert 20 * np.log10(np.max(np.abs(a))) <= -1.0


def test_a_loud_score_is_held_to_minus_1_dbfs_peak_without_breaking_the_layer_sum(sf2):
    s = _score(role="intro", loop=False)
    for p in s.parts:
        p.gain_db = 0.0
    s.parts[0].notes = [n.__class__(n.start, n.duration, n.pitch, 127) for n in s.parts[0].notes]
    r = render_score(s, sample_rate=SR, soundfont=sf2, target_lufs=-6.0)
    for a in [_mix(r), *r.layers.values()]:
        assert 20 * np.log10(np.max(np.abs(a))) <= -1.0
    assert r.meta["loudness_lufs"] < -6.0  # the peak ceiling won over the loudness target


def test_render_is_bit_identical_for_the_same_score(sf2, renders):
    again = render_score(_score(), sample_rate=SR, soundfont=sf2, seed=3)
    for k, a in renders["main"].layers.items():
        assert a.tobytes() == again.layers[k].tobytes()


def test_drum_onsets_land_on_their_frames(renders):
    r = renders["intro"]
    drums = r.layers["drums"]
    onsets = detect_onsets(drums, SR)
    expected = np.array(sorted({on for on, *_ in note_frames(_score(role="intro", loop=False).parts[0],
                                                            place(_score(role="intro", loop=False), sample_rate=SR))}))
    err_ms = np.array([np.min(np.abs(expected - o)) for o in onsets]) * 1000 / SR
    assert len(onsets) >= 0.8 * len(expected)
    assert np.all(err_ms <= 2.0), err_ms.max()


# -- errors ------------------------------------------------------------------------------------


def test_missing_soundfont_names_the_path(tmp_path):
    path = str(tmp_path / "nope.sf2")
    with pytest.raises(GenerationError, match="nope.sf2.*does not exist"):
        render_score(_score(), sample_rate=SR, soundfont=path)


def test_invalid_soundfont_names_the_path(tmp_path):
    bad = tmp_path / "garbage.sf2"
    bad.write_bytes(b"RIFF not a soundfont at all")
    with pytest.raises(GenerationError, match="garbage.sf2.*cannot be loaded"):
        render_score(_score(), sample_rate=SR, soundfont=str(bad))


def test_unknown_synth_voice_lists_the_built_in_ones():
    with pytest.raises(GenerationError, match="synth='theremin' is unknown.*saw_pad"):
        render_notes("theremin", [(0, NoteEvent(60, 90, 100))], sample_rate=SR, seed=0)


# -- voices and effects ------------------------------------------------------------------------


def _centroid(x: np.ndarray, *, power: bool = False) -> float:
    spec = np.abs(np.fft.rfft(x)) ** (2 if power else 1)
    f = np.fft.rfftfreq(x.size, 1 / SR)
    return float((spec * f).sum() / spec.sum())


def test_synth_voices_are_deterministic_and_pitched():
    for voice in SYNTHS:
        a = render_notes(voice, [(100, NoteEvent(57, 100, 9600))], sample_rate=SR, seed=5)
        b = render_notes(voice, [(100, NoteEvent(57, 100, 9600))], sample_rate=SR, seed=5)
        assert a.tobytes() == b.tobytes()
        assert np.all(np.isfinite(a)) and not np.any(a[:100]) and np.max(np.abs(a)) > 0.01
        assert np.max(np.abs(a[-10:])) < 1e-3  # the release ends near silence
    # a melodic voice plays its pitch: A3 = 220 Hz is the strongest partial of the triangle
    tri = render_notes("triangle", [(0, NoteEvent(57, 100, SR))], sample_rate=SR, seed=0)[:SR]
    spec = np.abs(np.fft.rfft(tri))
    assert abs(np.argmax(spec) * SR / tri.size - 220.0) < 2.0


def test_noise_drums_kick_is_low_and_hat_is_high():
    kick = render_notes("noise_drums", [(0, NoteEvent(36, 100, 10))], sample_rate=SR, seed=1)
    hat = render_notes("noise_drums", [(0, NoteEvent(42, 100, 10))], sample_rate=SR, seed=1)
    # where the energy is: the kick's 5 ms attack click is broadband by design (a beat tracker
    # heard the chip kit at half tempo without it), its body below 300 Hz
    assert _centroid(kick, power=True) < 300 and _centroid(hat, power=True) > 5000
    spec = np.abs(np.fft.rfft(kick)) ** 2
    assert spec[np.fft.rfftfreq(kick.size, 1 / SR) < 300].sum() > 0.95 * spec.sum()


def _peak_hz(x: np.ndarray, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    f = np.fft.rfftfreq(x.size, 1 / SR)
    band = (f >= lo) & (f <= hi)
    return float(f[band][np.argmax(spec[band])])


@pytest.mark.parametrize("tonic,kick_hz,snare_hz", [(9, 55.0, 220.0), (0, 65.41, 261.63), (4, 41.2, 164.81), (None, 48.0, 190.0)])
def test_the_chip_kit_rings_on_the_tonic(tonic, kick_hz, snare_hz):
    """The kick settles and the snare's body rings on the key's tonic (untuned without a key):
    heard in the rendered hits, after the kick's sweep and the snare's noise have died away."""
    assert kit_pitches(tonic) == pytest.approx((kick_hz, snare_hz), rel=1e-3)
    kick = render_notes("noise_drums", [(0, NoteEvent(36, 100, 10))], sample_rate=SR, seed=1, tonic=tonic)
    snare = render_notes("noise_drums", [(0, NoteEvent(38, 100, 10))], sample_rate=SR, seed=1, tonic=tonic)
    body = kick[int(0.12 * SR) : int(0.32 * SR)]  # the sweep is 5 time constants (0.15 s) down
    assert abs(_peak_hz(np.pad(body, (0, SR - body.size)), 30, 120) / kick_hz - 1) < 0.03
    # the snare's noise is high-passed at 1.2 kHz: below 400 Hz its tone is what sounds
    assert abs(_peak_hz(np.pad(snare, (0, SR - snare.size)), 100, 400) / snare_hz - 1) < 0.02


def test_a_chiptune_kit_is_heard_in_the_declared_key():
    """The drums layer of a chiptune stem in A minor: its chroma peaks on A (untuned, the kit
    rang near G and the key finder heard the stems in E minor and G major)."""
    import librosa

    st = ProceduralGenerator().generate(StemSpec("retro arcade boss fight, chiptune", role="main", bars=4,
                                                 key="A minor", seed=1, layers=("drums", "bass")))
    y = librosa.resample(st.layers["drums"].mean(axis=1).astype(np.float32), orig_sr=st.sample_rate, target_sr=22050)
    chroma = librosa.feature.chroma_cqt(y=y, sr=22050, hop_length=1024).mean(axis=1)
    assert int(np.argmax(chroma)) == 9, chroma.round(2)


def test_reverb_decays_60_db_over_its_time_and_is_seeded():
    ir = reverb_ir(SR, 1.5)
    assert ir.shape[1] == 2 and not ir.flags.writeable
    e = (ir**2).sum(axis=1)
    start = e[int(0.05 * SR) : int(0.15 * SR)].mean()
    at_rt = e[int(1.45 * SR) : int(1.5 * SR)].mean()
    assert -66 < 10 * np.log10(at_rt / start) < -54
    y1 = reverb(np.r_[1.0, np.zeros(999)], sample_rate=SR, seconds=1.5)
    assert y1.shape == (1000 + ir.shape[0] - 1, 2)
    np.testing.assert_allclose(y1[: ir.shape[0]], ir, atol=1e-6)


# -- MIDI export -------------------------------------------------------------------------------


def test_midi_file_has_parts_tempo_meter_key_and_the_pickup_first():
    s = _score(role="intro", loop=False, bpm=F(96), meter=Meter(3, 4), pickup=F(1))
    s.parts[3].add(-1, 1, 72, 80)
    mf = mido.MidiFile(file=io.BytesIO(score_to_midi(s)))
    assert mf.type == 1 and len(mf.tracks) == 1 + len(s.parts)
    metas = {m.type: m for m in mf.tracks[0] if m.is_meta}
    assert abs(mido.tempo2bpm(metas["set_tempo"].tempo) - 96) < 1e-3
    assert (metas["time_signature"].numerator, metas["time_signature"].denominator) == (3, 4)
    assert metas["key_signature"].key == "Dm"
    for part, track in zip(s.parts, mf.tracks[1:]):
        ons = [m for m in track if m.type == "note_on" and m.velocity > 0]
        assert len(ons) == len(part.notes)
        assert all(m.channel == 9 for m in ons) == part.is_drum
    lead = mf.tracks[4]
    first_tick = next(m for m in lead if m.type == "note_on").time
    assert first_tick == 0  # the file starts at the pickup
    # bar 1 beat 1 is at one beat (480 ticks) into the file: the kick there
    drum_ticks = np.cumsum([m.time for m in mf.tracks[1]])
    assert 480 in drum_ticks


def test_midi_tempo_counts_the_meters_beat():
    s = _score(role="intro", loop=False, bpm=F(210), meter=Meter(7, 8))
    mf = mido.MidiFile(file=io.BytesIO(score_to_midi(s)))
    tempo = next(m for m in mf.tracks[0] if m.type == "set_tempo").tempo
    assert abs(mido.tempo2bpm(tempo) - 105) < 1e-3  # 210 eighths a minute = 105 quarters
    assert abs(mf.length - 2 * 7 * 60 / 210) < 1e-3


@pytest.mark.parametrize("key,name", [("D dorian", "Am"), ("G mixolydian", "C"), ("F# minor", "F#m"),
                                      ("Bb major", "Bb"), ("A harmonic minor", "Am"), ("E lydian", "B")])
def test_key_signature_of_modes(key, name):
    assert key_signature_name(Key.parse(key)) == name
