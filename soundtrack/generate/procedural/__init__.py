"""The procedural generator (the default): compose a symbolic score from the spec, then render it.

`compose` (prompt -> style -> Score) lives in `compose.py`; `render.py` turns the Score into audio
per layer with a General MIDI SoundFont and built-in synth voices; `midi.py` exports the Score.
"""

from __future__ import annotations

import os
from fractions import Fraction

from soundtrack.errors import GenerationError
from soundtrack.stem import Stem, StemGrid, StemSpec

__all__ = ["ProceduralGenerator"]


class ProceduralGenerator:
    """Spec in, stem out, no hidden state: the same spec gives the same audio, bit for bit.

    `soundfont` is a General MIDI .sf2 path used when the spec names none (default:
    `soundfonts.default_soundfont()`: $SOUNDTRACK_SOUNDFONT, else FluidR3_GM where installed,
    else the TimGM6mb.sf2 that pretty_midi ships). `version` carries the font's content hash,
    so a bank's cache keys change when the font does.
    """

    name = "procedural"
    BASE_VERSION = "8"  # 8: named instruments in front of the unnamed ("soft X" back), two named leads trade phrases, a choir holds while strings take the figure, arpeggios accent the beats, the orchestral gran cassa marks them; 7: a take heard in the declared key (keysense); 6: the chip kit tuned to the key; 5: pitched percussion tuned by ear, synth pads follow the bar levels, chip kick click, heartbeat; 4: FluidR3 by default, mixing, performance, arrangement; 3: head and tail apart

    def __init__(self, *, soundfont: str | None = None) -> None:
        if soundfont is not None and not isinstance(soundfont, str):
            raise TypeError(f"soundfont must be a path string, got {soundfont!r}")
        self.soundfont = soundfont

    @property
    def font(self) -> str:
        """The font this generator plays when a spec names none."""
        from soundtrack.generate.procedural.soundfonts import default_soundfont

        return self.soundfont or default_soundfont()

    @property
    def version(self) -> str:
        from soundtrack.generate.procedural.sfsynth import engine_name, fluid_interp
        from soundtrack.generate.procedural.soundfonts import font_hash

        path = self.font  # the synth that plays it changes the bits too (FluidSynth or tinysoundfont)
        engine = engine_name()
        if engine == "fluidsynth":
            engine += f"-interp{fluid_interp()}"
        return f"{self.BASE_VERSION}+{engine}+{os.path.basename(path)}:{font_hash(path)[:16]}"

    def soundfont_for(self, spec: StemSpec) -> str:
        return spec.soundfont or self.font

    def explain(self, spec: StemSpec) -> list[str]:
        """What the generator will do with `spec` and why, one line each (``generate --explain``)."""
        from soundtrack.generate.procedural.explain import explain

        return explain(spec, soundfont=self.soundfont_for(spec))

    def generate(self, spec: StemSpec) -> Stem:
        """Compose and render one stem (see `render.render_score` for the roles' shapes)."""
        from soundtrack.generate.procedural.compose import compose
        from soundtrack.generate.procedural.midi import score_to_midi
        from soundtrack.generate.procedural.render import render_score
        from soundtrack.generate.procedural.soundfonts import font_info, say_font

        if not isinstance(spec, StemSpec):
            raise TypeError(f"generate() needs a StemSpec, got {type(spec).__name__}")
        font = self.soundfont_for(spec)
        say_font(font)
        score = compose(spec)
        _, beats = spec.length(score.meter)
        rendered = render_score(
            score,
            sample_rate=spec.sample_rate,
            soundfont=font,
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
            "soundfont": font_info(font),
            "choices": list(score.choices),
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
