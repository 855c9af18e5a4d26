"""More than one band per style: ensembles (who plays) and grooves (how the drums go).

A style's first ensemble is its classic line-up (the `Style.voices`); the others re-cast some
roles and may change the harmony and bass idioms. A prompt word picks one ("trailer" ->
the epic ensemble, "drum and bass" -> the breakbeat groove); otherwise the seed does, so two
states with the same words but different seeds get different bands. The instruments a prompt
names always win over the ensemble's (plan._orchestrate applies them after).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from soundtrack.generate.procedural.styles import Voice


@dataclass(frozen=True)
class Ensemble:
    name: str
    words: tuple[str, ...] = ()  # prompt words that ask for it
    voices: dict[str, Voice] = field(default_factory=dict)  # role -> voice, over the style's
    harmony: str | None = None  # harmony idiom, over the style's
    bass: str | None = None
    asked_only: bool = False  # chosen only when its words appear (not by the seed)


@dataclass(frozen=True)
class Groove:
    name: str
    words: tuple[str, ...] = ()
    asked_only: bool = False


_E = Ensemble
ENSEMBLES: dict[str, tuple[Ensemble, ...]] = {
    "ambient": (
        _E("pad and piano"),
        _E("strings and celesta", ("strings", "glass", "shimmer"), {
            "pad": Voice("slow strings", 49, gain_db=-3, reverb=0.6),
            "lead": Voice("celesta", 8, gain_db=-5, pan=0.2, reverb=0.6),
            "bass": Voice("cello", 42, gain_db=-6, reverb=0.5)}),
        _E("choir and harp", ("choir", "voices", "angelic", "sacred"), {
            "pad": Voice("choir", 52, gain_db=-3, reverb=0.65),
            "lead": Voice("harp", 46, gain_db=-3, pan=0.25, reverb=0.55),
            "bass": Voice("warm pad", 89, gain_db=-8, reverb=0.5)}),
        _E("solo piano", ("solo piano", "piano solo", "nocturne", "lullaby"), {
            "pad": Voice("piano", 0, gain_db=-4, pan=-0.1, reverb=0.45),
            "lead": Voice("piano", 0, gain_db=-1, pan=0.1, reverb=0.45),
            "bass": Voice("piano", 0, gain_db=-5, pan=-0.15, reverb=0.45)}, harmony="comp", bass="root",
           asked_only=True),
    ),
    "orchestral": (
        _E("strings and horns"),
        _E("epic brass and choir", ("trailer", "epic", "battle", "boss", "war", "anthem", "victory"), {
            "pad": Voice("choir", 52, gain_db=-2, reverb=0.5),
            "lead": Voice("brass section", 61, pan=-0.05, reverb=0.4),
            "perc": Voice("taiko", 116, gain_db=-1, reverb=0.4)}, asked_only=True),
        _E("chamber strings", ("waltz", "elegant", "chamber", "string quartet", "baroque", "classical"), {
            "pad": Voice("slow strings", 49, gain_db=-2, reverb=0.4),
            "lead": Voice("violin", 40, pan=0.15, reverb=0.4),
            "bass": Voice("cello", 42, gain_db=-1, reverb=0.35),
            "arp": Voice("harp", 46, gain_db=-5, pan=0.3, reverb=0.5)}, harmony="pad", bass="root_fifth"),
        _E("news theme", ("news", "headline", "headlines", "broadcast", "confident", "punchy", "corporate"), {
            "pad": Voice("string stabs", 48, gain_db=-2, reverb=0.3),
            "lead": Voice("brass section", 61, reverb=0.3),
            "arp": Voice("piano", 0, gain_db=-4, pan=0.2, reverb=0.3),
            "perc": Voice("timpani", 47, gain_db=-3, reverb=0.35)}, asked_only=True),
    ),
    "horror": (
        _E("tremolo and music box"),
        _E("low drones and piano", ("piano", "cold", "empty"), {
            "lead": Voice("piano", 0, gain_db=-3, pan=0.15, reverb=0.65),
            "pad": Voice("slow strings", 49, gain_db=-4, reverb=0.6)}),
        _E("choir of ghosts", ("choir", "voices", "ghost", "ghosts", "chant", "ritual"), {
            "pad": Voice("choir", 52, gain_db=-3, reverb=0.65),
            "lead": Voice("celesta", 8, gain_db=-4, pan=0.2, reverb=0.6)}),
    ),
    "synthwave": (
        _E("saws and sub"),
        _E("poly synth and bass synth", ("80s", "neon", "night drive", "synthpop", "retro"), {
            "pad": Voice("poly synth", 90, gain_db=-4, reverb=0.4),
            "lead": Voice("square lead", 80, gain_db=-6, reverb=0.3),
            "bass": Voice("synth bass", 38, gain_db=-1, reverb=0.05)}),
        _E("dark electro", ("cyberpunk", "techno", "dark", "industrial", "club"), {
            "pad": Voice("saw pad", synth="saw_pad", gain_db=-5, reverb=0.35),
            "lead": Voice("saw lead", synth="saw_lead", gain_db=-4, reverb=0.3),
            "bass": Voice("synth bass", 39, gain_db=-1, reverb=0.03)}),
    ),
    "lofi": (
        _E("rhodes and vibes"),
        _E("piano and guitar", ("piano", "jazzy", "rainy", "rain", "coffee", "cafe"), {
            "pad": Voice("piano", 0, gain_db=-2, reverb=0.3),
            "lead": Voice("clean guitar", 26, gain_db=-3, pan=0.2, reverb=0.3)}),
        _E("808 trap", ("trap", "808", "rap"), {
            "bass": Voice("808 sub", synth="sub_bass", gain_db=1, reverb=0.02),
            "lead": Voice("bells", 14, gain_db=-6, pan=0.2, reverb=0.35)}, asked_only=True),
    ),
    "chiptune": (
        _E("pulse duo"),
        _E("square and saw", ("16-bit", "arcade", "boss"), {
            "lead": Voice("saw lead", synth="saw_lead", gain_db=-5, pan=0.1, reverb=0.08)}),
    ),
    "rock": (
        _E("guitars and bass"),
        _E("organ rock", ("organ", "classic rock", "70s", "blues"), {
            "pad": Voice("rock organ", 18, gain_db=-4, pan=-0.2, reverb=0.2),
            "lead": Voice("overdriven lead", 29, gain_db=-3, pan=0.2, reverb=0.2)}),
        _E("metal", ("metal", "heavy", "aggressive", "boss"), {
            "lead": Voice("distortion lead", 30, gain_db=-4, pan=0.2, reverb=0.15)}),
    ),
    "jazz": (
        _E("piano trio and sax"),
        _E("guitar and muted trumpet", ("guitar", "cool", "noir", "smoky"), {
            "pad": Voice("jazz guitar", 26, gain_db=-2, pan=-0.2, reverb=0.25),
            "lead": Voice("muted trumpet", 59, gain_db=-3, pan=0.15, reverb=0.3)}),
        _E("bossa", ("bossa", "bossa nova", "brazil", "samba"), {
            "pad": Voice("nylon guitar", 24, gain_db=-2, pan=-0.2, reverb=0.25),
            "lead": Voice("flute", 73, gain_db=-3, pan=0.15, reverb=0.3)}),
    ),
    "folk": (
        _E("guitar and flute"),
        _E("celtic band", ("celtic", "tavern", "irish", "jig", "reel", "medieval"), {
            "lead": Voice("fiddle", 110, gain_db=-2, pan=0.15, reverb=0.3),
            "arp": Voice("harp", 46, gain_db=-5, pan=-0.3, reverb=0.35)}),
        _E("country picking", ("country", "bluegrass", "americana", "banjo", "western"), {
            "lead": Voice("harmonica", 22, gain_db=-4, pan=0.15, reverb=0.25),
            "arp": Voice("banjo", 105, gain_db=-5, pan=-0.3, reverb=0.2)}),
    ),
}

GROOVES: dict[str, tuple[Groove, ...]] = {
    "synthwave": (Groove("four on the floor"), Groove("halftime", ("halftime", "half-time", "slow burn")),
                  Groove("breakbeat", ("drum and bass", "drum n bass", "drum & bass", "dnb", "jungle", "breakbeat"),
                         asked_only=True)),
    "rock": (Groove("backbeat"), Groove("halftime", ("halftime", "half-time", "sludge", "doom")),
             Groove("gallop", ("gallop", "galloping", "metal", "speed"), asked_only=True)),
    "orchestral": (Groove("epic"), Groove("march", ("march", "military", "marching", "news", "headline")),
                   Groove("waltz", ("waltz",), asked_only=True)),
    "lofi": (Groove("boom bap"), Groove("trap", ("trap", "808"), asked_only=True)),
    "jazz": (Groove("swing"), Groove("bossa", ("bossa", "bossa nova", "samba", "latin"), asked_only=True)),
    "folk": (Groove("walk"), Groove("jig", ("jig", "reel", "dance", "tavern"))),
}


def _asked(words: tuple[str, ...], found) -> bool:
    return any(found(w) for w in words)


def choose_ensemble(style: str, found, seed: int) -> tuple[Ensemble, str]:
    """(ensemble, why) for `style`: `found(word)` says whether the prompt has that word."""
    options = ENSEMBLES.get(style, (Ensemble("standard"),))
    for e in options:
        if e.words and _asked(e.words, found):
            return e, f"ensemble {e.name!r}: the prompt says {next(w for w in e.words if found(w))!r}"
    pool = [e for e in options if not e.asked_only]
    e = pool[int(np.random.default_rng(seed).integers(len(pool)))]
    return e, f"ensemble {e.name!r}: chosen by the seed among {', '.join(repr(x.name) for x in pool)}"


def choose_groove(style: str, found, seed: int) -> tuple[str, str]:
    options = GROOVES.get(style)
    if not options:
        return "standard", f"groove: the {style} groove"
    for g in options:
        if g.words and _asked(g.words, found):
            return g.name, f"groove {g.name!r}: the prompt says {next(w for w in g.words if found(w))!r}"
    pool = [g for g in options if not g.asked_only]
    # the classic groove twice as likely as each alternative
    weights = np.array([2.0] + [1.0] * (len(pool) - 1))
    g = pool[int(np.random.default_rng(seed).choice(len(pool), p=weights / weights.sum()))]
    return g.name, f"groove {g.name!r}: chosen by the seed"
