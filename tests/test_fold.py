"""A steady loop's ring folded into the next cycle's head (one clip instead of two) sounds as
the two clips it replaces: over variant changes, layer ramps, a tempo switch inside a folded
head, a transition and a snapshot restored mid-head, to float32 rounding. The comparison is
the same session with folding turned off."""

from __future__ import annotations

import numpy as np
import pytest
from seqstems import SR, TAIL, synth_graph, synth_stems, tone_stem

from soundtrack.sequencer import Sequencer
from soundtrack.sequencer import clips as C
from soundtrack.sequencer import player as P
from soundtrack.stem import Stem, StemSet

GRAPH = synth_graph()
LONG = 16_000  # fight's tails: longer than a bar (12,800 frames at 150 bpm), so a bar lands inside a folded head


def _stems(*, cut: bool = False) -> StemSet:
    """The synth stems, with fight's mains (every variant and tempo take) ringing for LONG
    frames; `cut`: tails that do not decay but stop at full level (only the ring's own 1 ms
    fade keeps their end from clicking)."""
    base = synth_stems(GRAPH)
    out = StemSet()
    for (name, role, variant, tempo), stem in base._stems.items():
        if name == "fight" and role == "main":
            s = GRAPH.states["fight"]
            stem = tone_stem("main", bpm=stem.grid.bpm, bars=s.main, tail=LONG, freq=300.0 * (1 + 0.1 * variant),
                             layers=s.layers)
        if cut and role == "main":
            e = stem.grid.exit
            body = {k: v.copy() for k, v in stem.layers.items()}
            for k, v in body.items():
                v[e:] = v[e - (v.shape[0] - e) : e]  # the loop's last frames again: no decay, then a cut
            stem = Stem.from_layers(stem.spec, stem.grid, body, key=stem.key)
        out.add(name, role, stem, variant, tempo=tempo)
    return out


def _session(stems: StemSet, fold: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, int]:
    """A scripted session: (its output, how many blocks mixed a folded head)."""
    with monkeypatch.context() as m:
        if not fold:
            m.setattr(P, "fold", lambda *a: None)
        s = Sequencer(GRAPH, stems, seed=5)
        s.start()
        parts, folded = [], 0

        def play(frames: int) -> None:
            nonlocal folded
            while frames > 0:
                n = min(frames, 1024)
                parts.append(s.render(n))
                folded += any(isinstance(c.stem, C.Fold) for c in s.player.clips)
                frames -= n

        play(3 * 32_000)  # calm: intro, then cycles that change variant each time
        s.set_param("intensity", 0.9, ramp="1 beats")
        play(40_000)
        plan = s.post("spotted")
        play(plan.main_frame - s.frame + 2 * 25_600 + 3000)  # fight: two cycles in, inside a folded head
        ch = s.set_tempo(138)  # on the next bar, which is inside the head with its ring folded in
        assert ch.accepted
        play(ch.frame - s.frame + 60_000)
        s.post("lost")
        play(80_000)
        return np.concatenate(parts), folded


@pytest.mark.parametrize("cut", [False, True], ids=["decaying tails", "tails cut at full level"])
def test_a_folded_ring_sounds_as_the_ring_clip_it_replaces(cut: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    stems = _stems(cut=cut)
    with_fold, blocks = _session(stems, True, monkeypatch)
    without, none = _session(stems, False, monkeypatch)
    assert blocks > 50 and none == 0  # folding happened (and the reference has none)
    assert with_fold.shape == without.shape
    assert np.abs(with_fold).max() > 0.05
    np.testing.assert_allclose(with_fold, without, rtol=0, atol=2e-7)


def test_a_snapshot_taken_inside_a_folded_head_restores_sample_exact() -> None:
    stems = _stems()
    ref = Sequencer(GRAPH, stems, seed=2)
    ref.start()
    ref.render(16_700 + 2 * 32_000 + 300)  # 300 frames into a cycle: the last cycle's ring is folded in
    assert any(isinstance(c.stem, C.Fold) and c.out0 <= ref.earliest_frame < c.out1 for c in ref.player.clips)
    snap = ref.snapshot()
    assert snap["exact"] and snap["rings"]
    f = ref.earliest_frame
    want = ref.render(f - ref.frame + 3 * 32_000)[f - ref.frame :]
    s = Sequencer(GRAPH, stems, seed=99)
    s.restore(snap)
    got = s.render(3 * 32_000)
    n = SR // 100  # the restore's own fade-in
    np.testing.assert_array_equal(got[n:], want[n:])
    assert TAIL["main"] > 300


def test_a_fold_holds_only_the_ring_and_is_cached() -> None:
    stems = synth_stems(GRAPH)
    a, b = stems.stem("calm", "main", 0), stems.stem("calm", "main", 1)
    end = np.linspace(1, 0, 8, dtype=np.float32)
    f = C.fold(a, b, end)
    assert f is not None and C.fold(a, b, end) is f
    assert f.frames == TAIL["main"] and f.mix.shape[0] == TAIL["main"]
    e = a.grid.exit
    np.testing.assert_array_equal(f.layers["bass"][:-8], b.layers["bass"][:TAIL["main"] - 8] + a.layers["bass"][e:-8])
    long = tone_stem("main", bpm=120, bars=1, tail=20_000)  # rings past the end of its own 16,000-frame cycle
    assert C.fold(long, long, end) is None and C.fold(long, b, end) is not None
    assert C.fold(a, tone_stem("main", bpm=120, bars=2, tail=1200, layers=("bass",)), end) is None  # other layers


def test_the_comparison_catches_a_fold_that_drops_the_ring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation check: a fold that keeps the head but loses the ring is heard."""
    stems = _stems()
    without, _ = _session(stems, False, monkeypatch)
    real = C.fold

    def headless(ring: Stem, head: Stem, end: np.ndarray) -> C.Fold | None:
        f = real(ring, head, end)
        if f is None:
            return None
        bad = object.__new__(C.Fold)
        bad.head, bad.ring, bad.frames = f.head, f.ring, f.frames
        bad.layers = {k: np.ascontiguousarray(v[: f.frames]) for k, v in head.layers.items()}
        bad.mix = np.ascontiguousarray(head.mix[: f.frames])
        return bad

    monkeypatch.setattr(P, "fold", headless)
    broken, blocks = _session(stems, True, monkeypatch)
    assert blocks > 50
    assert np.abs(broken - without).max() > 1e-2
