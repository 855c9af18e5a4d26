"""The procedural generator (the default): compose a symbolic score from the spec, then render it.

`compose` (prompt -> style -> Score) lives in `compose.py`; `render.py` turns the Score into audio
per layer with a General MIDI SoundFont and built-in synth voices; `midi.py` exports the Score.
"""

from __future__ import annotations

from fractions import Fraction

from soundtrack.errors import GenerationError
from soundtrack.stem import Stem, StemGrid, StemSpec

__all__ = ["ProceduralGenerator"]


class ProceduralGenerator:
    """Spec in, stem out, no hidden state: the same spec gives the same audio, bit for bit.

    `soundfont` is a General MIDI .sf2 path used when the spec names none (default: the
    TimGM6mb.sf2 that pretty_midi ships).
    """

    name = "procedural"
    version = "3"  # 3: loops keep head and tail apart

    def __init__(self, *, soundfont: str | None = None) -> None:
        if soundfont is not None and not isinstance(soundfont, str):
            raise TypeError(f"soundfont must be a path string, got {soundfont!r}")
        self.soundfont = soundfont

    def soundfont_for(self, spec: StemSpec) -> str:
        from soundtrack.generate.procedural.render import default_soundfont

        return spec.soundfont or self.soundfont or default_soundfont()

    def generate(self, spec: StemSpec) -> Stem:
        """Compose and render one stem (see `render.render_score` for the roles' shapes)."""
        from soundtrack.generate.procedural.compose import compose
        from soundtrack.generate.procedural.midi import score_to_midi
        from soundtrack.generate.procedural.render import render_score

        if not isinstance(spec, StemSpec):
            raise TypeError(f"generate() needs a StemSpec, got {type(spec).__name__}")
        score = compose(spec)
        _, beats = spec.length(score.meter)
        rendered = render_score(
            score,
            sample_rate=spec.sample_rate,
            soundfont=self.soundfont_for(spec),
            seed=spec.seed,
            body_beats=Fraction(beats),
        )
        if not rendered.layers:
            raise GenerationError(f"style {score.style!r} produced no layers for {spec.prompt!r}")
        # layers in the order the spec asked for them, then any extra the style added
        order = [x for x in spec.layers if x in rendered.layers] + [x for x in rendered.layers if x not in spec.layers]
        grid = StemGrid(
            sample_rate=spec.sample_rate,
            bpm=score.bpm,
            meter=score.meter,
            entry=rendered.entry,
            exit=rendered.exit,
            frames=rendered.frames,
            bars=score.bars,
        )
        meta = {
            "style": score.style,
            "generator": self.name,
            "generator_version": self.version,
            "chords": [[int(r), str(q)] for r, q in score.chords],
            "pickup_beats": str(Fraction(score.pickup_beats)),
            **rendered.meta,
        }
        return Stem.from_layers(
            spec,
            grid,
            {k: rendered.layers[k] for k in order},
            key=score.key,
            style=score.style,
            meta=meta,
            midi=score_to_midi(score),
        )
