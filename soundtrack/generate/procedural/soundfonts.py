"""Which General MIDI SoundFont the procedural generator plays, its identity, and its best presets.

Default order: ``$SOUNDTRACK_SOUNDFONT`` (a path; an error if it is not a file), Debian's
``fluid-soundfont-gm`` (FluidR3_GM.sf2, 141 MB, what `make setup` installs where apt has it),
then the TimGM6mb.sf2 (6 MB) that pretty_midi ships. A font's identity is its file name and the
SHA-256 of its bytes: that hash is part of the generator's version, so it enters every stem's
cache key, and stems and manifests record it (``meta.soundfont``).

Presets: a style asks for a General MIDI program; `preset_for` may move it to the program that
sounds best in the font at hand (TimGM6mb's "Strings" are thin, its "Slow Strings" fuller, ...),
so a change of font changes only what it must. The synthesis back ends (FluidSynth, tinysoundfont)
live in `sfsynth`; a loaded font is kept per process there.
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import lru_cache

from soundtrack.errors import GenerationError

ENV_VAR = "SOUNDTRACK_SOUNDFONT"
#: where platforms install FluidR3_GM (Debian/Ubuntu fluid-soundfont-gm, Fedora, Homebrew, Arch)
FLUID_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM2-2.sf2",
    "/opt/homebrew/share/soundfonts/FluidR3_GM.sf2",
    "/usr/local/share/soundfonts/FluidR3_GM.sf2",
)


def bundled_soundfont() -> str:
    """The General MIDI SoundFont shipped inside pretty_midi (TimGM6mb.sf2): the fallback."""
    import pretty_midi

    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


def default_soundfont() -> str:
    """The font used when neither the spec nor the generator names one (see the module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        if not os.path.isfile(env):
            raise GenerationError(f"{ENV_VAR}={env!r} is not a file; point it at a General MIDI .sf2 or unset it")
        return env
    for p in FLUID_PATHS:
        if os.path.isfile(p):
            return p
    return bundled_soundfont()


@lru_cache(maxsize=8)
def _hash(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def font_hash(path: str) -> str:
    """SHA-256 (hex) of the font file's bytes (computed once per process and file version)."""
    try:
        st = os.stat(path)
    except OSError:
        raise GenerationError(f"soundfont {path!r} does not exist; give a General MIDI .sf2 file") from None
    return _hash(os.path.realpath(path), st.st_size, st.st_mtime_ns)


def font_info(path: str) -> dict[str, str]:
    """What stems and manifests record: ``{"name": file name, "sha256": hash}``."""
    return {"name": os.path.basename(path), "sha256": font_hash(path)}


def font_family(path: str) -> str:
    """"fluidr3", "timgm6mb" or "other": which preset table applies."""
    name = os.path.basename(path).lower()
    if name.startswith("fluidr3"):
        return "fluidr3"
    if name.startswith("timgm6mb"):
        return "timgm6mb"
    return "other"


_SAID: set[str] = set()


def say_font(path: str) -> str:
    """One line naming the font in use (printed to stderr once per process and font); returns it."""
    fam = font_family(path)
    line = f"soundtrack: procedural instruments from {os.path.basename(path)} ({path})"
    if fam == "timgm6mb":
        line += f"; install fluid-soundfont-gm or set {ENV_VAR} for better instruments"
    if path not in _SAID:
        _SAID.add(path)
        if os.environ.get("SOUNDTRACK_QUIET") != "1":
            print(line, file=sys.stderr)
    return line


#: program substitutions per font family: a style's GM program -> the one that sounds best there.
#: Chosen by ear and by the listening proxy (benchmarks/quality): FluidR3's "Slow Strings" (49) and
#: "Ahh Choir" are its richest sustained sounds; TimGM6mb's ensemble strings (48) are thin.
_BETTER: dict[str, dict[int, int]] = {
    # FluidR3's Music Box (10) and Glockenspiel (9) samples glitch at their loop points (an
    # audible tick ~50 ms into most notes, found by tests/clicks.py): its Celesta is the
    # nearest clean bell
    "fluidr3": {10: 8, 9: 8},
    "timgm6mb": {48: 49},
    "other": {},
}

#: drum keys per font family: FluidR3's Crash 1 (49) spikes ~0.2 s into its sample; Crash 2 (57) rings clean
DRUM_KEYS: dict[str, dict[int, int]] = {"fluidr3": {49: 57}, "timgm6mb": {}, "other": {}}

#: the longest a cymbal may ring per font family (seconds), faded out before it: FluidR3's cymbal
#: samples tick at points inside their decay (Crash 2 at 0.72 s and 1.46 s, Ride 1 at 0.40 s)
CYMBAL_SECONDS: dict[str, dict[int, float]] = {"fluidr3": {57: 0.66, 51: 0.37, 52: 0.6, 55: 0.6, 59: 0.37},
                                               "timgm6mb": {}, "other": {}}

#: why a substitution is made, for the explanation
SUBSTITUTION_REASONS = {
    ("fluidr3", 10): "FluidR3's Music Box ticks at its loop point; its Celesta plays instead",
    ("fluidr3", 9): "FluidR3's Glockenspiel ticks at its loop point; its Celesta plays instead",
    ("timgm6mb", 48): "TimGM6mb's ensemble Strings are thin; its Slow Strings play instead",
}

#: sustained-pad program for each "pad" request, per family (used for held chords only)
_SUSTAIN_PAD: dict[str, dict[int, int]] = {
    "fluidr3": {48: 49},  # held chords on strings: Slow Strings swell instead of re-bowing
    "timgm6mb": {48: 49},
    "other": {},
}


def preset_for(program: int, family: str, *, sustained: bool = False) -> int:
    """The program to play for a requested GM `program` in a font of `family`."""
    table = _SUSTAIN_PAD.get(family, {}) if sustained else {}
    if program in table:
        return table[program]
    return _BETTER.get(family, {}).get(program, program)
