"""`score --explain`: the episode's plan as a table, one row per chapter.

Columns: the chapter's number, start (h:mm:ss.mmm) and title; the state it plays (or "silent");
where its music starts and how long it lasts; the tempo and stretch of its section; what it
plays (intro bars, main bars or beats, outro bars); how it is entered (sync and fade of the rule,
or "start" for the first of a run); and its sting, if any. Then the plan's own lines
(`EpisodePlan.explain`) for every frame.
"""

from __future__ import annotations

from soundtrack.podcast.episode import EpisodeLayout
from soundtrack.podcast.plan import Section


def clock(seconds: float) -> str:
    """h:mm:ss.mmm"""
    ms = int(round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def _plays(s: Section) -> str:
    parts = []
    if s.intro_bars:
        parts.append(f"intro {s.intro_bars}")
    if s.form == "outro-end":
        parts.append("outro ending")
    elif s.form == "outro":
        parts.append("outro")
    else:
        bars = s.main_beats / s.beats_per_bar
        parts.append(f"main {bars:g} bar{'s' if bars != 1 else ''}" if s.main_beats % s.beats_per_bar == 0
                     else f"main {s.main_beats} beats")
    if s.outro_bars and (s.final or s.form != "outro"):
        parts.append(f"outro {s.outro_bars}")
    return " + ".join(parts)


def chapter_table(layout: EpisodeLayout) -> list[str]:
    """The per-chapter table (see the module docstring), as lines of text."""
    plan = layout.plan
    sr = plan.sample_rate
    secs = list(plan.sections)
    stings = {t.frame: t.name for t in plan.stings}
    rows = [("#", "start", "title", "state", "music from", "for", "tempo", "stretch", "plays", "entered", "sting")]
    for i, c in enumerate(layout.chapters):
        nxt = layout.chapters[i + 1].frame if i + 1 < len(layout.chapters) else plan.frames
        k = layout.sections_of[i] if i < len(layout.sections_of) else None
        if k is None:
            rows.append((str(i + 1), clock(c.start), c.title, "silent" if not c.music else "-", "-", "-", "-", "-",
                         "-", "-", stings.get(c.frame, "")))
            continue
        s = secs[k]
        first_of_run = k == 0 or secs[k - 1].run != s.run
        rule = layout.rules[k - 1] if k > 0 and not first_of_run else None
        entered = "start" if first_of_run else (
            f"{rule.sync}, fade {rule.fade}" if rule is not None else "bar, 1 beat fade (default)")
        start = max(0, s.start) / sr
        end = min(nxt, s.end) / sr
        st = "0.00 %" if s.ratio == 1 else f"{float((s.ratio - 1) * 100):+.2f} %"
        rows.append((str(i + 1), clock(c.start), c.title, c.state or "-", clock(start), f"{end - start:.1f} s",
                     f"{float(s.tempo):.2f}", st, _plays(s), entered, stings.get(c.frame, "")))
    widths = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
    out = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    for w in layout.warnings:
        out.append(f"warning: {w}")
    return out
