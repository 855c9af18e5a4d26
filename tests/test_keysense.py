"""A stem is heard in the key it declares: `compose` writes another take of the progression and
tune when its score predicts another key (`keysense`), and every stem of a state plays that take.

What a listener hears is measured with an estimator the generator does not use: librosa's
constant-Q chroma with Krumhansl-Kessler profiles (as benchmarks/quality/measure.py does).
"""

from __future__ import annotations

from fractions import Fraction as F

import numpy as np
import pytest

from soundtrack.generate.procedural import ProceduralGenerator
from soundtrack.generate.procedural import compose as compose_mod
from soundtrack.generate.procedural.compose import _compose, compose
from soundtrack.generate.procedural.keysense import heard_key, heard_margin, score_chroma
from soundtrack.generate.procedural.score import Part, Score
from soundtrack.pitch import Key
from soundtrack.stem import StemSpec
from soundtrack.timing import Meter

# The proxy's smoky jazz loop in B-flat (I vi ii V): its first take is heard in F major (its
# many Fs and As ring with their fifths). Measured with benchmarks/quality/proxy.py.
JAZZ = StemSpec("smoky jazz lounge with tenor sax", role="main", bars=8, key=Key.parse("Bb major"), seed=1)
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def heard_by_librosa(stem) -> tuple[int, str]:
    """The key of the loop as it plays (two cycles, each head over the previous tail)."""
    librosa = pytest.importorskip("librosa")
    mix, e = stem.mix.astype(np.float64), stem.grid.exit
    out = np.zeros((3 * e + mix.shape[0], 2))
    for k in range(3):
        out[k * e : k * e + mix.shape[0]] += mix
    y = librosa.resample(out[e : 3 * e].mean(axis=1).astype(np.float32), orig_sr=stem.sample_rate, target_sr=22050)
    c = librosa.feature.chroma_cqt(y=y, sr=22050, hop_length=1024).mean(axis=1)
    fits = {(t, m): float(np.corrcoef(np.roll(p, t), c)[0, 1]) for t in range(12) for p, m in ((KK_MAJOR, "major"), (KK_MINOR, "minor"))}
    return max(fits, key=lambda k: fits[k])


def test_a_loop_heard_in_another_key_is_rewritten_and_then_heard_in_its_own(monkeypatch):
    gen = ProceduralGenerator()
    stem = gen.generate(JAZZ)
    assert heard_by_librosa(stem) == (10, "major")
    assert any(c.startswith("key: take 0 sounds nearer F major than Bb major; take ") for c in stem.meta["choices"]), stem.meta["choices"]
    monkeypatch.setattr(compose_mod, "KEY_TAKES", 0)  # the first take only, as before
    first = gen.generate(JAZZ)
    assert heard_by_librosa(first) == (5, "major")  # what was heard before: F major


def test_every_stem_of_a_state_plays_the_take_its_main_was_chosen_with():
    main = compose(JAZZ)
    take = [c for c in main.choices if c.startswith("key:")]
    assert take and "take 0" not in take[0].split(";")[1]
    others = [compose(StemSpec(JAZZ.prompt, role=role, bars=bars, key=JAZZ.key, seed=1, variant=v))
              for role, bars, v in (("main", 8, 1), ("main", 4, 0), ("intro", 2, 0), ("outro", 4, 0))]
    for sc in others:
        assert [c for c in sc.choices if c.startswith("key:")] == take  # the same take, named alike
    assert others[0].chords == main.chords  # a variant keeps the harmony
    assert others[1].chords == main.chords[:4]
    assert others[3].chords[:2] == main.chords[:2]  # the outro starts with the progression, then cadences
    melody = [n.pitch for p in main.parts if p.layer == "melody" for n in p.notes]
    assert melody != [n.pitch for p in _compose(JAZZ, 0).parts if p.layer == "melody" for n in p.notes]  # not take 0's tune


def test_a_loop_heard_in_its_key_keeps_its_first_take():
    spec = StemSpec("epic orchestral battle", role="main", bars=8, key=Key.parse("D minor"), seed=2)
    first = _compose(spec, 0)
    assert heard_margin(first, spec.key) > 0
    sc = compose(spec)
    assert not [c for c in sc.choices if c.startswith("key:")]
    assert [(p.name, p.notes) for p in sc.parts] == [(p.name, p.notes) for p in first.parts]  # bit for bit as before
    modal = StemSpec("epic orchestral battle", role="main", bars=8, key=Key.parse("D dorian"), seed=2)
    assert [(p.name, p.notes) for p in compose(modal).parts] == [(p.name, p.notes) for p in _compose(modal, 0).parts]


def _held(pitches: list[int], *, layer: str = "harmony", beats: int = 8) -> Part:
    p = Part(layer=layer, name="piano")
    for pitch in pitches:
        p.add(0, beats, pitch, 100)
    return p


def test_the_score_chroma_counts_overtones_and_leaves_drums_out():
    sc = Score(bpm=F(120), meter=Meter(4, 4), key=Key(0, "major"), bars=2, role="main", style="ambient")
    sc.parts = [_held([60])]
    c = score_chroma(sc)
    assert c[0] == 1.0 and c[7] == pytest.approx(0.4) and c[4] == pytest.approx(0.15)  # C, with its G and E partials
    drums = Part(layer="drums", name="kit", is_drum=True)
    drums.add(0, 8, 37, 127)  # a rim shot's key number is not a pitch
    sc.parts.append(drums)
    assert np.array_equal(score_chroma(sc), c)
    sc.parts = [_held([57, 60, 64]), _held([45], layer="bass")]
    assert heard_key(sc) == (9, "minor")
    sc.parts = [_held([60, 64, 67]), _held([48], layer="bass")]
    assert heard_key(sc) == (0, "major")
