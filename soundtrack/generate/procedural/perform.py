"""Performance: how the written notes are played. Legato and vibrato for sustaining instruments,
seeded humanisation of timing and velocity for everyone but the beat.

- Legato (`legato`): a lead on a bowed, blown or sung instrument (GM strings, brass, reeds,
  pipes, voices, synth leads) plays joined notes: each note lasts until the next one starts,
  plus a 25 ms overlap when the pitch changes, instead of being re-attacked after a gap; it
  gets vibrato (`Part.vibrato_cents`, delayed in the renderer) and CC11 swells (arrange).
  Held chords on such instruments are legato too (the renderer may pick the font's slow-attack
  preset) and swell with the arrangement.
- Humanisation (`humanise`): micro-timing per role (bass +-2 ms, a little behind; chords +-5 ms;
  leads +-6 ms; hats +-2 ms) and velocity +-6 %, from a generator seeded by the stem's seeds,
  so the same spec still gives the same notes. Kick and snare are never moved: the grid stays
  exact (on their frames within a sample), which is what a listener locks to.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from soundtrack.generate.procedural.plan import Plan
from soundtrack.generate.procedural.score import Note, Part, Score

F = Fraction
_GRID_KEYS = {35, 36, 37, 38, 39, 40}  # kick, side stick, snare, clap: on the grid
_TIMING_MS = {"bass": (1.0, 2.0), "pad": (0.0, 5.0), "lead": (0.0, 6.0), "arp": (0.0, 3.0), "perc": (0.0, 3.0),
              "kit": (0.0, 2.0)}  # (mean lateness, spread) in ms
_VIBRATO = {**{p: 22.0 for p in range(40, 45)}, 110: 24.0, **{p: 14.0 for p in range(56, 64)},
            **{p: 16.0 for p in range(64, 72)}, **{p: 18.0 for p in range(72, 80)}, 52: 12.0, 53: 18.0, 54: 12.0,
            22: 10.0, 21: 6.0, 48: 10.0, 49: 10.0}


def sustains(part: Part) -> bool:
    """Whether the part's instrument holds a note at will (bowed, blown, sung, a synth lead, an organ)."""
    if part.is_drum:
        return False
    if part.synth:
        return part.synth in ("saw_lead", "saw_pad")
    p = int(part.program)
    return (40 <= p <= 44) or (48 <= p <= 79 and p not in (45, 46, 47, 55)) or (16 <= p <= 23) or (80 <= p <= 95) \
        or p == 110


def legato(plan: Plan, score: Score) -> None:
    """Mark sustaining leads and held chords legato and join the lead's notes (see the module)."""
    ms = F(25, 1000) * plan.bpm / 60  # 25 ms in beats
    for part in score.parts:
        if not sustains(part):
            continue
        if part.role == "pad" and part.layer != "melody" and _held(part):
            part.legato = True
            continue
        if part.role != "lead":
            continue
        part.legato = True
        part.vibrato_cents = _VIBRATO.get(int(part.program), 12.0) if not part.synth else 8.0
        notes = sorted(part.notes)
        out = []
        for i, n in enumerate(notes):
            end = n.start + n.duration
            if i + 1 < len(notes):
                nxt = notes[i + 1]
                gap = nxt.start - end
                if 0 <= gap <= 1:
                    end = nxt.start + (ms if nxt.pitch != n.pitch else 0)
            if not score.loop or end <= plan.length:
                out.append(Note(n.start, end - n.start, n.pitch, n.velocity))
            else:
                out.append(Note(n.start, max(n.duration, plan.length - n.start), n.pitch, n.velocity))
        part.notes = out


def _held(part: Part) -> bool:
    """Chords held a beat or more on average (a pad, not an ostinato)."""
    if not part.notes:
        return False
    return sum(float(n.duration) for n in part.notes) / len(part.notes) >= 1.5


def humanise(plan: Plan, score: Score) -> None:
    """Seeded micro-timing and velocity (see the module); kick and snare stay on the grid."""
    per_ms = plan.bpm / 60000  # beats per millisecond
    for idx, part in enumerate(score.parts):
        if part.synth and part.synth == "noise_drums":
            continue  # a chip's drums are a sequencer: exact
        rng = np.random.default_rng(plan.rng("humanise", idx, part.name).integers(2**63))
        mean, spread = _TIMING_MS.get(part.role, (0.0, 3.0))
        chiptune = plan.style.name == "chiptune"
        out = []
        for n in part.notes:
            vel = n.velocity
            if not (part.is_drum and n.pitch in _GRID_KEYS):
                vel = int(round(vel * (1.0 + 0.06 * float(np.clip(rng.standard_normal(), -2, 2)))))
            nudge = F(0)
            if not (part.is_drum and n.pitch in _GRID_KEYS) and not chiptune and spread > 0:
                ms = mean + spread * float(np.clip(rng.standard_normal(), -2, 2))
                nudge = F(round(ms * 10), 10) * per_ms
                new = n.start + nudge
                if (n.start >= 0) != (new >= 0) or new >= plan.length or nudge >= n.duration:
                    nudge = F(0)  # never across the start or the end of the stem
                if n.start < 0:
                    nudge = max(nudge, F(0))  # a pickup note never moves before the stem's first frame
            out.append(Note(n.start, n.duration, n.pitch, max(1, min(127, vel)), nudge))
        part.notes = out
