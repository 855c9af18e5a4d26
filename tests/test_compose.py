"""The procedural composer's symbolic output: harmony, loops, cadences, motifs, layers, meters."""

import os
import subprocess
import sys
from fractions import Fraction

import pytest

from soundtrack.generate.procedural.compose import compose
from soundtrack.generate.procedural.plan import make_plan
from soundtrack.generate.procedural.styles import STYLES
from soundtrack.generate.procedural.theory import QUALITIES, is_diatonic, pulses
from soundtrack.pitch import Key
from soundtrack.stem import StemSpec
from soundtrack.timing import Meter

STYLE_PROMPTS = {
    "ambient": "calm ambient bed",
    "orchestral": "epic orchestral adventure",
    "horror": "spooky horror corridor",
    "synthwave": "80s synthwave night drive",
    "lofi": "lo-fi chill hop",
    "chiptune": "8-bit chiptune level",
    "rock": "rock action chase",
    "jazz": "jazz lounge",
    "folk": "folk acoustic village",
}


def make(prompt, role="main", bars=8, **kw):
    return compose(StemSpec(prompt=prompt, role=role, bars=bars, **kw))


def notes_of(score, layer):
    return [n for p in score.parts if p.layer == layer for n in p.notes]


def lead(score):
    return sorted(next(p for p in score.parts if p.layer == "melody").notes)


def fingerprint(score):
    return (
        score.bpm, score.meter, score.key, score.chords, score.pickup_beats,
        [(p.layer, p.name, p.program, p.synth, sorted(p.notes)) for p in score.parts],
    )


@pytest.fixture(scope="module")
def mains():
    return {s: make(p, seed=5) for s, p in STYLE_PROMPTS.items()}


def test_prompts_pick_the_intended_styles(mains):
    assert {s: sc.style for s, sc in mains.items()} == {s: s for s in STYLE_PROMPTS}


def test_same_spec_same_score_and_across_processes():
    a = make("dark rock in E minor", seed=11, variant=1)
    b = make("dark rock in E minor", seed=11, variant=1)
    assert fingerprint(a) == fingerprint(b)
    code = (
        "from soundtrack.stem import StemSpec;from soundtrack.generate.procedural.compose import compose;"
        "s=compose(StemSpec(prompt='dark rock in E minor',seed=11,variant=1));"
        "print(sorted((p.name,n.start,n.duration,n.pitch,n.velocity) for p in s.parts for n in p.notes))"
    )
    outs = set()
    for hseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hseed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)
    assert len(outs) == 1
    assert outs.pop().strip() == str(sorted((p.name, n.start, n.duration, n.pitch, n.velocity) for p in a.parts for n in p.notes))


def test_explicit_spec_values_win_over_the_prompt():
    prompt = "jazz at 96 bpm in D minor in 3/4"
    from_prompt = make(prompt)
    assert (from_prompt.bpm, from_prompt.key, from_prompt.meter) == (96, Key(2, "minor"), Meter(3, 4))
    explicit = make(prompt, tempo=120, key="E major", meter="4/4")
    assert (explicit.bpm, explicit.key, explicit.meter) == (120, Key(4, "major"), Meter(4, 4))


def test_nine_styles_differ(mains):
    assert len(STYLES) >= 9
    sigs = {}
    for name, sc in mains.items():
        lo, hi = STYLES[name].tempo
        assert lo <= sc.bpm <= hi, name
        sigs[name] = frozenset((p.program, p.synth, p.is_drum) for p in sc.parts)
    assert len(set(sigs.values())) == len(sigs)  # each style has its own instrumentation
    quals = {name: {q for _, q in sc.chords} for name, sc in mains.items()}
    assert quals["rock"] == {"5"}
    assert quals["jazz"] <= {"maj7", "min7", "dom7", "min7b5", "maj9", "min9", "dom9"}
    assert quals["lofi"] & {"maj7", "min7", "maj9", "min9", "dom7"}
    assert quals["ambient"] & {"sus2", "sus4", "add9", "madd9", "maj7", "min7", "min9"}
    assert quals["folk"] <= {"maj", "min"}
    assert {mains[s].reverb_seconds for s in mains} != {mains["rock"].reverb_seconds}
    assert any(p.synth == "pulse" for p in mains["chiptune"].parts)
    # synthwave is electronic whichever of its ensembles plays: built-in synths or GM synth programs
    assert all(p.synth or p.is_drum or 80 <= p.program <= 103 or p.program in (38, 39) for p in mains["synthwave"].parts)


@pytest.mark.parametrize("style", sorted(STYLE_PROMPTS))
@pytest.mark.parametrize("key", ["C major", "A minor", "F# dorian", "Eb mixolydian", "E phrygian", "Bb lydian", "D harmonic minor"])
def test_every_chord_is_diatonic_or_a_marked_borrowing(style, key):
    for role, bars in (("main", 8), ("outro", 4), ("intro", 2)):
        sc = make(STYLE_PROMPTS[style], role=role, bars=bars, key=key, seed=2)
        for i, (root, quality) in enumerate(sc.chords):
            assert quality in QUALITIES
            if not is_diatonic((root, quality), sc.key):
                assert i in sc.borrowed, (style, key, role, i, root, quality)
        assert set(sc.borrowed) <= set(range(sc.bars))


@pytest.mark.parametrize("style", sorted(STYLE_PROMPTS))
def test_main_loop_leads_home_and_nothing_sounds_past_its_end(style):
    for bars in (8, 6, 4):
        sc = make(STYLE_PROMPTS[style], bars=bars, seed=9)
        assert sc.loop and sc.pickup_beats == 0 and len(sc.chords) == bars
        assert sc.chords[-1] != sc.chords[0]
        assert sc.chords[-1][0] != sc.key.tonic  # the last bar is not the tonic: it leads back
        for p in sc.parts:
            for n in p.notes:
                assert 0 <= n.start and n.start + n.duration <= sc.total_beats, (style, p.name, n)
                assert n.duration > 0 and 1 <= n.velocity <= 127


@pytest.mark.parametrize("style", sorted(STYLE_PROMPTS))
def test_outro_cadences_to_the_tonic_and_holds(style):
    sc = make(STYLE_PROMPTS[style], role="outro", bars=3, seed=4)
    end = sc.total_beats
    last_bar = end - sc.meter.beats
    assert sc.chords[-1][0] == sc.key.tonic
    assert sc.chords[-2] != sc.chords[-1]  # a cadence, not a vamp
    bass_final = [n for n in notes_of(sc, "bass") if n.start == last_bar]
    assert bass_final and all(n.pitch % 12 == sc.key.tonic for n in bass_final)
    assert all(n.start + n.duration == end for n in bass_final)
    assert not [n for n in notes_of(sc, "bass") if n.start > last_bar]
    mel = lead(sc)
    assert mel[-1].pitch % 12 == sc.key.tonic and mel[-1].start == last_bar and mel[-1].start + mel[-1].duration == end
    drums_final = [n for n in notes_of(sc, "drums") if n.start >= last_bar]
    assert drums_final and all(n.start == last_bar for n in drums_final)  # one final hit, then silence
    assert max(n.start + n.duration for p in sc.parts for n in p.notes) == end
    # decrescendo: the final hit is softer than the loudest drum note before it
    assert max(n.velocity for n in drums_final) < max(n.velocity for n in notes_of(sc, "drums") if n.start < last_bar)


@pytest.mark.parametrize("style", ["rock", "folk", "synthwave", "chiptune", "orchestral", "jazz", "lofi"])
def test_melody_repeats_its_motif(style):
    sc = make(STYLE_PROMPTS[style], seed=21)
    B = sc.meter.beats
    bars = [[n for n in lead(sc) if b * B <= n.start < (b + 1) * B] for b in range(sc.bars)]

    def rhythm(b):
        return tuple(n.start - b * B for n in bars[b])

    def intervals(b):
        return tuple(y.pitch - x.pitch for x, y in zip(bars[b], bars[b][1:]))

    assert len(bars[0]) >= 2
    same_rhythm = [b for b in range(1, sc.bars) if rhythm(b) == rhythm(0)]
    assert len(same_rhythm) >= 2, (style, [rhythm(b) for b in range(sc.bars)])
    assert any(intervals(b) == intervals(0) for b in same_rhythm)  # the motif itself comes back


@pytest.mark.parametrize("style", sorted(STYLE_PROMPTS))
def test_bass_starts_each_chord_on_its_root_or_holds_the_tonic_pedal(style):
    drone = STYLES[style].bass == "drone"
    for role, bars in (("main", 8), ("intro", 4), ("outro", 3)):
        sc = make(STYLE_PROMPTS[style], role=role, bars=bars, seed=13)
        bass = notes_of(sc, "bass")
        lo, hi = STYLES[style].register["bass"]
        assert all(lo <= n.pitch <= hi for n in bass)
        entry = min((n.start for n in bass), default=0)
        for b, chord in enumerate(sc.chords):
            t = b * sc.meter.beats
            if t < entry or (b and chord == sc.chords[b - 1]):
                continue
            pcs = {(chord[0] + i) % 12 for i in QUALITIES[chord[1]]}
            if drone and (style == "horror" or sc.key.tonic in pcs):
                # a drone holds a tonic pedal under every chord that has the tonic (horror: all)
                under = [n for n in bass if n.start <= t < n.start + n.duration]
                assert under and all(n.pitch % 12 == sc.key.tonic for n in under), (style, role, b, chord, under)
                continue
            at = [n for n in bass if n.start == t]
            assert at and all(n.pitch % 12 == chord[0] for n in at), (style, role, b, chord, at)


@pytest.mark.parametrize("style", sorted(STYLE_PROMPTS))
def test_variants_differ_but_share_key_tempo_and_progression(style):
    a = make(STYLE_PROMPTS[style], seed=8, variant=0)
    b = make(STYLE_PROMPTS[style], seed=8, variant=1)
    assert (a.bpm, a.key, a.meter, a.chords) == (b.bpm, b.key, b.meter, b.chords)
    assert [(p.layer, p.program, p.synth) for p in a.parts] == [(p.layer, p.program, p.synth) for p in b.parts]
    ma = {(n.start, n.pitch) for n in lead(a)}
    mb = {(n.start, n.pitch) for n in lead(b)}
    assert len(ma ^ mb) > 0.5 * len(ma | mb)
    da = {(n.start, n.pitch) for n in notes_of(a, "drums")}
    db = {(n.start, n.pitch) for n in notes_of(b, "drums")}
    assert da != db or style == "ambient"


def test_roles_of_a_state_share_one_progression():
    prompt = "epic orchestral battle"
    main = make(prompt, bars=8, seed=3)
    intro = make(prompt, role="intro", bars=2, seed=3)
    outro = make(prompt, role="outro", bars=4, seed=3)
    assert intro.chords[-1] == main.chords[-1]  # the intro ends on the chord that leads into bar 1
    assert outro.chords[:2] == main.chords[:2]  # the outro continues the progression, then cadences


def test_intro_builds_in_with_a_pickup_where_the_style_counts_in():
    for style in ("rock", "folk", "jazz", "chiptune", "orchestral"):
        sc = make(STYLE_PROMPTS[style], role="intro", bars=4, seed=6)
        assert sc.pickup_beats > 0, style
        early = [n for p in sc.parts for n in p.notes if n.start < 0]
        assert early and all(n.start >= -sc.pickup_beats for n in early)
    for style in sorted(STYLE_PROMPTS):
        sc = make(STYLE_PROMPTS[style], role="intro", bars=4, seed=6)
        B = sc.meter.beats

        def sounding(b):
            return {p.layer for p in sc.parts for n in p.notes if n.start < (b + 1) * B and n.start + n.duration > b * B}

        assert len(sounding(0)) < len(sounding(3)) == 4, style
        harm = [n for p in sc.parts if p.layer == "harmony" for n in p.notes]
        per_bar = [[n.velocity for n in harm if b * B <= n.start < (b + 1) * B] for b in range(4)]
        means = [sum(v) / len(v) for v in per_bar if v]
        assert means[0] < means[-1], style  # crescendo
    assert make("calm ambient bed", role="intro", bars=2).pickup_beats == 0


@pytest.mark.parametrize("style", sorted(STYLE_PROMPTS))
def test_different_prompts_and_seeds_give_different_scores(style):
    a = make(STYLE_PROMPTS[style], seed=1)
    b = make(STYLE_PROMPTS[style] + ", upbeat, with harp", seed=1)
    c = make(STYLE_PROMPTS[style], seed=2)
    assert fingerprint(a) != fingerprint(b) and fingerprint(a) != fingerprint(c)


@pytest.mark.parametrize("meter", ["3/4", "5/4", "6/8", "7/8"])
@pytest.mark.parametrize("style", ["rock", "jazz", "folk", "synthwave", "orchestral", "chiptune"])
def test_odd_meters_keep_notes_in_bars_and_group_the_groove(meter, style):
    sc = make(STYLE_PROMPTS[style], bars=4, meter=meter, seed=3)
    m = Meter.parse(meter)
    assert sc.meter == m and sc.total_beats == 4 * m.beats
    for p in sc.parts:
        for n in p.notes:
            assert 0 <= n.start and n.start + n.duration <= sc.total_beats
    kit = next(p for p in sc.parts if p.layer == "drums" and p.is_drum)
    pulse_starts = {Fraction(t) for t, _ in pulses(m)}
    for b in range(4):
        onsets = {n.start - b * m.beats for n in kit.notes if b * m.beats <= n.start < (b + 1) * m.beats}
        assert onsets and min(onsets) == 0
        if style in ("rock", "synthwave", "chiptune") and b % 4 != 3:
            kicks_snares = {n.start - b * m.beats for n in kit.notes if n.pitch in (36, 38) and b * m.beats <= n.start < (b + 1) * m.beats}
            assert pulse_starts <= kicks_snares  # every felt pulse (7/8 = 2+2+3) is struck
    if meter == "7/8":
        assert [t for t, _ in pulses(m)] == [0, 2, 4]


def test_unknown_layers_get_parts_and_every_part_has_a_listed_layer():
    layers = ("drums", "bass", "pad", "arp", "perc", "counter", "fx")
    for role in ("main", "intro", "outro", "stinger", "bridge"):
        sc = make("synthwave night drive", role=role, bars=2, layers=layers)
        assert set(sc.layers()) == set(layers)
        assert {p.layer for p in sc.parts} <= set(layers)
    sc = make("calm ambient bed", layers=("bass", "harmony", "melody"))
    assert sc.layers() == ["bass", "harmony", "melody"]


def test_prompt_instruments_recast_the_orchestra():
    sc = make("mysterious ambient, soft strings, harp arpeggios")
    programs = {p.program for p in sc.parts if p.layer == "harmony"}
    assert {48, 46} <= programs
    harp = next(p for p in sc.parts if p.program == 46)
    assert len({n.pitch for n in harp.notes}) >= 3
    sc = make("intense epic orchestral combat, taiko drums, staccato brass")
    assert any(p.layer == "drums" and p.program == 116 and p.notes for p in sc.parts)
    assert next(p for p in sc.parts if p.layer == "melody").program == 61
    assert next(p for p in make("lofi with rhodes").parts if p.layer == "harmony").program == 4


def test_stinger_fits_its_beats_and_ends_on_the_tonic():
    for beats in (2, 4, 6):
        sc = compose(StemSpec(prompt="bright short fanfare, glockenspiel", role="stinger", beats=beats, key="D major"))
        for p in sc.parts:
            for n in p.notes:
                assert 0 <= n.start and n.start + n.duration <= beats
        mel = lead(sc)
        assert mel[-1].pitch % 12 == 2 and mel[-1].start + mel[-1].duration == beats
        assert sc.chords[-1][0] == 2
        assert all(n.pitch % 12 == 2 for n in notes_of(sc, "bass") if n.start + n.duration == beats)


def test_bridge_rises_to_the_dominant():
    sc = make("tense orchestral riser", role="bridge", bars=2, key="D minor")
    assert sc.chords[-1] == (9, "maj")  # V (the harmonic-minor dominant, marked borrowed)
    assert 1 in sc.borrowed
    mel = lead(sc)
    assert mel[-1].pitch % 12 == 9 and mel[-1].pitch > mel[0].pitch
    snare = [n.velocity for n in notes_of(sc, "drums") if n.pitch == 38]
    assert snare[-1] > snare[0]


def test_registers_are_playable(mains):
    for name, sc in mains.items():
        for p in sc.parts:
            if p.is_drum:
                continue
            for n in p.notes:
                assert 24 <= n.pitch <= 100, (name, p.name, n)
        for n in notes_of(sc, "bass"):
            assert 28 <= n.pitch <= 60, (name, n)


def test_the_plan_resolves_progression_independently_of_role_and_variant():
    a = make_plan(StemSpec(prompt="jazz lounge", role="main", seed=4, variant=0))
    b = make_plan(StemSpec(prompt="jazz lounge", role="outro", bars=2, seed=4, variant=3))
    assert a.progression == b.progression and a.key == b.key and a.bpm == b.bpm
