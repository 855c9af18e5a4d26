"""Prompt understanding for the procedural composer: plain text -> style, mood, instruments,
tempo, key, meter, intensity.

``parse_prompt("tense orchestral in D minor, 96 bpm, 7/8, taiko")`` reads what it recognises
and ignores every other word; it never fails on free text. The words every generator reads
(tempo, meter, key, mood, intensity, pace) come from `soundtrack.generate.prompt`; the genre
and instrument vocabulary here is the composer's own (its styles and instruments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from soundtrack.generate.procedural.styles import DEFAULT_STYLE, INSTRUMENTS, STYLES
from soundtrack.generate.prompt import (
    find_phrase,
    plain,
    prompt_intensity,
    prompt_key,
    prompt_meter,
    prompt_mood,
    prompt_pace,
    prompt_tempo,
    read_meter,
    read_tempo,
)
from soundtrack.pitch import Key
from soundtrack.timing import Meter

__all__ = ["PromptInfo", "parse_prompt", "prompt_meter", "prompt_tempo"]


@dataclass(frozen=True)
class PromptInfo:
    """What a prompt says. `None` means "not said": the spec or the style decides.

    `intensity` is 0..1 (the style's default when no intensity word appears); `pace` is 0 (slow)
    .. 1 (fast) from words like "slow" or "upbeat", placing the tempo inside the style's range;
    `mode` is an explicit mode word ("minor", "dorian") or the one a mood implies ("dark" ->
    minor); `roles` pairs each instrument with the role it takes (pad, arp, lead, bass, kit, perc).
    """

    style: str
    tempo: Fraction | None = None
    key: Key | None = None
    meter: Meter | None = None
    mood: str | None = None
    intensity: float = 0.5
    instruments: tuple[str, ...] = ()
    roles: tuple[tuple[str, str], ...] = ()
    # named instrument -> how it sits in the mix: "soft strings" -> "back", "harp arpeggios" or
    # "featuring harp" -> "front", otherwise "named" (a named part leads the unnamed ones)
    prominence: tuple[tuple[str, str], ...] = ()
    mode: str | None = None
    pace: float | None = None
    words: tuple[str, ...] = ()  # the recognised words, in a canonical order (for seeding)
    solo: bool = False  # "solo", "alone", "unaccompanied": only the named instruments play
    sparse: bool = False  # "sparse", "minimal", "bare": no drone, pad or drums unless named
    fallback: bool = False  # no genre word was recognised: `style` is the default
    genre: str | None = None  # the genre word that decided the style ("drum and bass", "waltz", ...)


_ROLE_AFTER: dict[str, str | None] = {
    "arpeggio": "arp", "arpeggios": "arp", "arpeggiated": "arp", "arps": "arp", "arp": "arp", "ostinato": None,
    "melody": "lead", "lead": "lead", "solo": "lead", "theme": "lead", "line": "lead",
    "pad": "pad", "pads": "pad", "chords": "pad", "chord": "pad", "bed": "pad", "comping": "pad",
    "bass": "bass", "bassline": "bass",
}


# words just before an instrument that say how loud it sits ("soft strings", "featuring harp")
_BACK_WORDS = ("soft", "gentle", "quiet", "distant", "faint", "subtle", "light", "background", "hushed", "muffled")
_FRONT_WORDS = ("featuring", "feat", "lead", "solo", "loud", "bold", "prominent", "big", "soaring")


def _prominence(text: str, a: int, b: int, role_word: bool) -> str:
    before = [w for w in re.findall(r"[a-z]+", text[max(0, a - 24) : a]) if w not in ("a", "an", "the", "some")]
    own = re.findall(r"[a-z]+", text[a:b])  # an alias may carry the word itself ("soft strings")
    if (before and before[-1] in _BACK_WORDS) or (own and own[0] in _BACK_WORDS):
        return "back"
    if role_word or (before and before[-1] in _FRONT_WORDS):
        return "front"
    return "named"


def _instruments(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    phrases = sorted(
        ((w, name) for name, inst in INSTRUMENTS.items() for w in inst.words), key=lambda x: -len(x[0])
    )
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str, str, str]] = []
    for phrase, name in phrases:
        for a, b in find_phrase(phrase, text):
            if any(a < tb and ta < b for ta, tb in taken):
                continue
            taken.append((a, b))
            role = INSTRUMENTS[name].role
            nxt = re.match(r"[\s,]*([a-z]+)", text[b:])
            after = _ROLE_AFTER.get(nxt.group(1)) if nxt else None  # None: no role word ("ostinato" keeps the role)
            if after and name != "drums":
                role = after
            found.append((a, name, role, _prominence(text, a, b, bool(after))))
    found.sort()
    names: list[str] = []
    roles: list[tuple[str, str]] = []
    prominence: list[tuple[str, str]] = []
    for _, name, role, how in found:
        if name not in names:
            names.append(name)
            roles.append((name, role))
            prominence.append((name, how))
    return tuple(names), tuple(roles), tuple(prominence)


def _style(text: str) -> tuple[str, str | None, bool]:
    """(style, the genre word that decided it or None, fell back to the default).

    A genre word counts 2 (3 when it is a phrase of several words: "drum and bass" is more
    specific than "bass"), a flavour word 1; ties go to the word that comes first.
    """
    best: tuple[int, int, str, str | None] | None = None  # (-score, first position, name, genre word)
    for name, style in STYLES.items():
        score, first, genre, gpos = 0, len(text), None, len(text)
        for words, weight in ((style.genre_words + (name,), 2), (style.flavor_words, 1)):
            for w in sorted(set(words)):
                spans = find_phrase(w, text)
                if spans:
                    score += weight + (1 if weight == 2 and " " in w else 0)
                    first = min(first, spans[0][0])
                    if weight == 2 and (genre is None or spans[0][0] < gpos or (spans[0][0] == gpos and len(w) > len(genre))):
                        genre, gpos = w, spans[0][0]
        if score and (best is None or (-score, first) < best[:2]):
            best = (-score, first, name, genre)
    if best is None:
        return DEFAULT_STYLE, None, True
    return best[2], best[3], False


_SOLO_WORDS = ("solo", "alone", "unaccompanied", "by itself", "only")
_SPARSE_WORDS = ("sparse", "minimal", "minimalist", "bare", "stripped", "stripped down", "intimate", "simple")
# genre phrases made of instrument words: not instruments ("drum and bass" names no bass guitar)
_NOT_INSTRUMENTS = ("drum and bass", "drum n bass", "drum & bass", "drum-and-bass", "bass music")


def parse_prompt(text: str) -> PromptInfo:
    """Read a plain-text prompt; unknown words are ignored. See `PromptInfo` for the fields."""
    if not isinstance(text, str):
        raise TypeError(f"prompt must be a string, got {text!r}")
    low = plain(text)
    style, genre, fallback = _style(low)
    key, mode = prompt_key(text)
    mood, mode = prompt_mood(low, mode)
    said = prompt_intensity(low)
    intensity = said if said is not None else STYLES[style].intensity
    pace = prompt_pace(low)
    itext = low
    for phrase in _NOT_INSTRUMENTS:
        for a, b in find_phrase(phrase, itext):
            itext = itext[:a] + " " * (b - a) + itext[b:]
    names, roles, prominence = _instruments(itext)
    solo = any(find_phrase(w, low) for w in _SOLO_WORDS) and bool(names)
    sparse = solo or any(find_phrase(w, low) for w in _SPARSE_WORDS)
    tempo = read_tempo(low)
    meter = read_meter(low)
    words = (style, mood or "", mode or "", f"{intensity:.3f}", f"{pace if pace is not None else ''}") + tuple(
        f"{n}:{r}" for n, r in roles
    ) + (("solo",) if solo else ()) + (("sparse",) if sparse and not solo else ()) + ((f"genre:{genre}",) if genre else ())
    return PromptInfo(
        style=style,
        tempo=tempo,
        key=key,
        meter=meter,
        mood=mood,
        intensity=float(min(1.0, max(0.0, intensity))),
        instruments=names,
        roles=roles,
        prominence=prominence,
        mode=mode,
        pace=pace,
        words=words,
        solo=solo,
        sparse=sparse,
        fallback=fallback,
        genre=genre,
    )
