"""Fills and episodes of graphs/podcast.toml over its real procedural stems: endings that ring out
at every duration, and no click at any seam, loop repeat, variant change or chapter change.

The bank is the shared real one (conftest `real_bank`, built once into out/test-banks/podcast).
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from clicks import find_clicks

from soundtrack.podcast import Chapter, fill, score_episode
from soundtrack.podcast.delivery import Delivery
from soundtrack.podcast.jobs import fill_file
from soundtrack.podcast.plan import RINGOUT_DBFS

SR = 48_000
LAST = int(0.05 * SR)  # "the last 50 ms"
HEADROOM_DB = 4.0  # the render must be this far under -60 dBFS: export gains a -18 LUFS bank up to -14 LUFS


@pytest.fixture(scope="module")
def podcast(real_bank):
    return real_bank("podcast")


class _Ending:
    """A sink that keeps the last 50 ms and the longest run of digital silence."""

    def __init__(self) -> None:
        self.frames = 0
        self.tail = np.zeros((0, 2), np.float32)
        self.run = 0
        self.longest = 0

    def __call__(self, b: np.ndarray) -> None:
        silent = np.max(np.abs(b), axis=1) == 0
        if silent.all():
            self.run += b.shape[0]
        else:
            nz = np.flatnonzero(~silent)
            self.longest = max(self.longest, self.run + nz[0])
            edges = np.flatnonzero(np.diff(silent.astype(np.int8)))  # runs inside the block
            z = np.concatenate([[0], np.cumsum(silent)])
            for a, c in zip(edges[:-1], edges[1:]):
                if silent[a + 1]:
                    self.longest = max(self.longest, int(z[c + 1] - z[a + 1]))
            self.run = b.shape[0] - 1 - nz[-1]
        self.longest = max(self.longest, self.run)
        self.tail = np.concatenate([self.tail, b])[-LAST:]
        self.frames += b.shape[0]


def _db(x: np.ndarray) -> float:
    return float(20 * np.log10(max(float(np.max(np.abs(x))), 1e-12)))


@pytest.mark.parametrize("seconds", [7.3, 10.0, 15.0, 60.0, 120.0, 300.0, 3600.0])
def test_fills_ring_out_at_every_duration(podcast, seconds) -> None:
    g, bank = podcast
    states = ("theme", "bed") if seconds <= 60 else ("theme",)  # theme: 92 bpm, every round minute is whole bars
    for state in states:
        end = _Ending()
        r = fill(g, seconds, source=bank, state=state, sink=end)
        s = r.plan.sections[0]
        n = round(seconds * SR)
        assert end.frames == n == r.plan.frames
        # the final chord rings out in full (until it stays below -70 dBFS), never cut short
        assert s.ring == s.ring_full > 0 and s.end - s.pad - s.exit >= s.ring_full, (state, s)
        assert s.end - s.exit >= (0.5 if state == "theme" else 3.0) * SR
        assert _db(end.tail) < -60.0 - HEADROOM_DB, (state, seconds, _db(end.tail))
        assert end.longest <= LAST, (state, seconds, end.longest)  # no digital silence over 50 ms, anywhere
        assert "tail -" not in "\n".join(r.plan.explain())


def test_a_round_minute_fill_exported_at_podcast_loudness_rings_out(podcast, tmp_path) -> None:
    g, bank = podcast
    job = fill_file(g, 60.0, tmp_path / "bed.wav", source=bank, delivery=Delivery(target_lufs=-14.0))
    a, sr = sf.read(tmp_path / "bed.wav", dtype="float32", always_2d=True)
    s = job.plan.sections[0]
    assert a.shape[0] == 60 * SR and abs(job.report.lufs + 14.0) < 0.5
    assert _db(a[-LAST:]) < -60.0
    # the tail decays from the cadence on: 100 ms windows, each under the one before (allowing
    # 3 dB of wobble), from the chord down by 20 dB and more; the old planner cut it after 11-18 ms
    # and faded the rest (its last 50 ms still at -34 dBFS)
    w = SR // 10
    levels = [_db(a[i : i + w]) for i in range(s.exit, a.shape[0] - w + 1, w)]
    assert len(levels) >= 5 and levels[-1] < levels[0] - 20.0
    assert all(b <= a_ + 3.0 for a_, b in zip(levels, levels[1:])), levels
    assert RINGOUT_DBFS == -70.0


def _seam_clicks(audio: np.ndarray, markers, *, fade_radius: dict[int, int]) -> list:
    """Clicks at every segment start (loop repeats, variant changes, intro/outro entries) and
    within every transition's fade."""
    seams = sorted({m.frame for m in markers if m.kind == "segment"})
    found = find_clicks(audio, SR, at=seams)
    for f, r in fade_radius.items():
        found += find_clicks(audio, SR, at=[f], radius=r)
    return found



def _fill_clicks(g, bank, state: str, seed: int, max_stretch: float) -> tuple[list, object]:
    r = fill(g, 61.234, source=bank, state=state, seed=seed, max_stretch=max_stretch)
    mains = [m for m in r.markers if m.kind == "segment" and m.detail.get("role") == "main" and m.state == "s0"]
    assert len(mains) >= 2  # loop repeats are in there (bed: variant changes too)
    tr = {m.frame: max(480, int(m.detail.get("fade_frames", 0))) for m in r.markers if m.kind == "transition"}
    return _seam_clicks(r.audio, r.markers, fade_radius=tr), r


@pytest.mark.parametrize("state", ["theme", "bed", "break", "outro"])
def test_no_click_at_any_seam_of_a_fill_at_the_banks_tempo(podcast, state) -> None:
    g, bank = podcast
    for seed in (1, 2):
        clicks, r = _fill_clicks(g, bank, state, seed, max_stretch=0.0)  # no stretch: entered part-way if need be
        assert r.plan.sections[0].ratio == 1
        assert clicks == [], (state, seed, clicks[:3])


def _episode(g, bank, max_stretch: float):
    chapters = [Chapter(0.0, "Cold open"), Chapter(21.0, "Interview"), Chapter(62.5, "News"),
                Chapter(80.0, "More talk"), Chapter(131.0, "Goodbye")]
    ep = score_episode(g, chapters, duration=150.0, source=bank, seed=3, max_stretch=max_stretch)
    assert [c.state for c in ep.chapters] == ["theme", "bed", "break", "bed", "outro"]
    bed = [m for m in ep.markers if m.kind == "segment" and m.detail.get("role") == "main" and m.state in ("s1", "s3")]
    assert {m.detail.get("variant") for m in bed} == {0, 1}  # the bed's variant changes are in there
    tr = {m.frame: max(480, int(m.detail.get("fade_frames", 0))) for m in ep.markers if m.kind == "transition"}
    for c in chapters[1:]:  # every chapter change, 3 s either side
        tr[round(c.start * SR)] = max(tr.get(round(c.start * SR), 0), SR * 3)
    return _seam_clicks(ep.audio, ep.markers, fade_radius=tr), ep


def test_no_click_at_any_seam_or_chapter_change_of_an_episode_at_the_banks_tempi(podcast) -> None:
    g, bank = podcast
    clicks, ep = _episode(g, bank, 0.0)
    assert all(s.ratio == 1 for s in ep.plan.sections)
    assert clicks == [], clicks[:3]


def test_no_click_at_any_seam_or_chapter_change_of_a_stretched_episode(podcast) -> None:
    g, bank = podcast
    clicks, ep = _episode(g, bank, 0.03)
    assert any(s.ratio != 1 for s in ep.plan.sections)
    assert clicks == [], clicks[:3]
