"""What the procedural generator will do with a spec, and why: one line per decision.

Used by ``soundtrack generate --explain`` (through `ProceduralGenerator.explain`) and written
into every stem's metadata (``meta.choices``): the style and the word that decided it (or that
none did, and which style it fell back to), the key and tempo and where they came from, the
ensemble and groove, what a solo or sparse prompt left out, each named instrument and the part
it plays, the arrangement's shape, and the SoundFont with the presets it resolves to.
"""

from __future__ import annotations

import os

from soundtrack.stem import StemSpec


def explain(spec: StemSpec, *, soundfont: str) -> list[str]:
    from soundtrack.generate.procedural.compose import compose
    from soundtrack.generate.procedural.sfsynth import engine_name
    from soundtrack.generate.procedural.soundfonts import SUBSTITUTION_REASONS, font_family, preset_for

    score = compose(spec)
    fam = font_family(soundfont)
    lines = list(score.choices)
    lines.append(f"soundfont: {os.path.basename(soundfont)} ({soundfont}), played by {engine_name()}")
    for part in score.parts:
        if part.synth or part.is_drum:
            continue
        sustained = part.legato and part.role == "pad"
        got = preset_for(int(part.program), fam, sustained=sustained)
        if got != part.program:
            why = SUBSTITUTION_REASONS.get((fam, int(part.program)), "a fuller preset for held chords" if sustained else "")
            lines.append(f"{part.layer}: {part.name} GM {part.program} -> {got}" + (f" ({why})" if why else ""))
    legato_parts = [p.name for p in score.parts if p.legato and p.role == "lead"]
    if legato_parts:
        lines.append(f"performance: legato with CC11 swells and vibrato on {', '.join(legato_parts)}; "
                     "humanised timing and velocity; kick and snare on the grid")
    return lines
