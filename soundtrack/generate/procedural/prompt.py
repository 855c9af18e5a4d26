"""Prompt understanding: plain text -> style, mood, instruments, tempo, key, meter, intensity.

``parse_prompt("tense orchestral in D minor, 96 bpm, 7/8, taiko")`` reads what it recognises
and ignores every other word; it never fails on free text. Explicit numbers and keys in the text
are taken as given (a tempo outside 20..300 bpm or an impossible meter is ignored, as if unsaid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from soundtrack.errors import SoundtrackError
from soundtrack.generate.procedural.styles import DEFAULT_STYLE, INSTRUMENTS, STYLES
from soundtrack.pitch import MODE_SYNONYMS, MODES, Key
from soundtrack.timing import MAX_BPM, MIN_BPM, Meter


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
    mode: str | None = None
    pace: float | None = None
    words: tuple[str, ...] = ()  # the recognised words, in a canonical order (for seeding)
    solo: bool = False  # "solo", "alone", "unaccompanied": only the named instruments play
    sparse: bool = False  # "sparse", "minimal", "bare": no drone, pad or drums unless named
    fallback: bool = False  # no genre word was recognised: `style` is the default
    genre: str | None = None  # the genre word that decided the style ("drum and bass", "waltz", ...)


_INTENSITY = {
    "whisper": 0.1, "quiet": 0.15, "soft": 0.2, "gentle": 0.2, "calm": 0.2, "peaceful": 0.2, "delicate": 0.2,
    "subtle": 0.2, "minimal": 0.2, "sparse": 0.2, "relaxed": 0.25, "relaxing": 0.25, "mellow": 0.3, "light": 0.3,
    "low key": 0.3, "moderate": 0.5, "suspenseful": 0.55, "building": 0.6, "tense": 0.6, "urgent": 0.75,
    "energetic": 0.75, "driving": 0.8, "heavy": 0.85, "intense": 0.85, "epic": 0.85, "powerful": 0.85,
    "loud": 0.85, "combat": 0.85, "battle": 0.85, "fight": 0.85, "pounding": 0.9, "huge": 0.9, "massive": 0.9,
    "fierce": 0.9, "aggressive": 0.95, "frantic": 0.95, "bombastic": 0.95, "chaotic": 0.95,
}
_PACE = {
    "very slow": 0.0, "slow": 0.1, "slowly": 0.1, "downtempo": 0.15, "lazy": 0.15, "ballad": 0.1, "laid back": 0.25,
    "moderate": 0.5, "mid tempo": 0.5, "mid-tempo": 0.5, "medium": 0.5, "upbeat": 0.8, "uptempo": 0.85,
    "up-tempo": 0.85, "fast": 0.9, "quick": 0.85, "rapid": 0.95, "frantic": 1.0, "very fast": 1.0,
}
_MAJOR_MOODS = ("happy", "bright", "triumphant", "heroic", "playful", "uplifting", "hopeful", "whimsical",
                "cheerful", "joyful", "sunny", "victorious", "romantic", "warm", "festive")
_MINOR_MOODS = ("dark", "mysterious", "tense", "sad", "melancholic", "melancholy", "eerie", "ominous", "lonely",
                "sinister", "gloomy", "tragic", "somber", "sombre", "scary", "creepy", "spooky", "menacing",
                "suspenseful", "nostalgic")
_OTHER_MOODS = ("calm", "peaceful", "epic", "dreamy", "chill", "mellow", "energetic", "aggressive", "intense")
# Mode names to look for; two-word names first, so "harmonic minor" wins over the "minor" in it.
_MODE_WORDS = tuple(sorted((*MODES, *MODE_SYNONYMS), key=lambda w: " " not in w))
_ROLE_AFTER: dict[str, str | None] = {
    "arpeggio": "arp", "arpeggios": "arp", "arpeggiated": "arp", "arps": "arp", "arp": "arp", "ostinato": None,
    "melody": "lead", "lead": "lead", "solo": "lead", "theme": "lead", "line": "lead",
    "pad": "pad", "pads": "pad", "chords": "pad", "chord": "pad", "bed": "pad", "comping": "pad",
    "bass": "bass", "bassline": "bass",
}


def _phrase_re(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(phrase).replace(r"\ ", r"[\s_-]+") + r"(?![a-z0-9])")


_PHRASE_CACHE: dict[str, re.Pattern[str]] = {}


def _find(phrase: str, text: str) -> list[tuple[int, int]]:
    pat = _PHRASE_CACHE.get(phrase)
    if pat is None:
        pat = _PHRASE_CACHE[phrase] = _phrase_re(phrase)
    return [m.span() for m in pat.finditer(text)]


def _tempo(text: str) -> Fraction | None:
    m = re.search(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*-?\s*bpm\b", text) or re.search(
        r"\btempo\s*(?:of|=|:)?\s*(\d{1,3}(?:\.\d+)?)(?![\d/])", text
    )
    if not m:
        return None
    bpm = Fraction(m.group(1))
    return bpm if MIN_BPM <= bpm <= MAX_BPM else None


def prompt_tempo(text: str) -> Fraction | None:
    """The tempo a prompt names ("96 bpm", "tempo 96"), or None (none, or outside MIN_BPM..MAX_BPM)."""
    return _tempo(_plain(text))


def prompt_meter(text: str) -> Meter | None:
    """The meter a prompt names ("7/8", "waltz" = 3/4), or None."""
    return _meter(_plain(text))


def _plain(text: str) -> str:
    """Lower case, runs of white space as one space: the text the phrase finders read."""
    return " ".join(text.lower().split())


def _meter(text: str) -> Meter | None:
    for m in re.finditer(r"(?<![\d/.])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/])", text):
        try:
            return Meter(int(m.group(1)), int(m.group(2)))
        except SoundtrackError:
            continue
    if _find("waltz", text):
        return Meter(3, 4)
    return None


# an accidental in prose: a sign or a word; a flat "b" only in lower case ("Bb minor", not "BB minor")
_ACC = r"(#|♯|(?-i:b)|♭|\s*-?\s*(?i:sharp|flat))?"
_MODES_RE = "|".join(m.replace(" ", r"\s+") for m in _MODE_WORDS)


def _key(raw: str) -> tuple[Key | None, str | None]:
    """(key, mode word) from the original-case text; `Key.parse` reads every key name found."""
    m = re.search(r"(?<![A-Za-z])([A-Ga-g])" + _ACC + r"\s*(" + _MODES_RE + r")(?![a-z])", raw, re.IGNORECASE)
    if m:  # the note and the mode, apart ("Bbminor" -> "Bb minor")
        key = Key.parse(f"{m.group(1)}{m.group(2) or ''} {m.group(3)}")
        return key, key.mode
    m = re.search(r"(?<![A-Za-z])([A-G])(#|b)?m(?![A-Za-z0-9])", raw)  # "Am", "F#m"
    if m:
        return Key.parse(f"{m.group(1)}{m.group(2) or ''} minor"), "minor"
    m = re.search(r"\b(?:in|key\s+of)\s+([A-G])" + _ACC + r"(?![\w#])", raw)  # "in D", "in B flat"
    if m:
        return Key.parse(f"{m.group(1)}{m.group(2) or ''} major"), None
    low = raw.lower()
    for word in _MODE_WORDS:
        if _find(word, low):
            return None, Key.parse(f"C {word}").mode
    return None, None


def _instruments(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    phrases = sorted(
        ((w, name) for name, inst in INSTRUMENTS.items() for w in inst.words), key=lambda x: -len(x[0])
    )
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str, str]] = []
    for phrase, name in phrases:
        for a, b in _find(phrase, text):
            if any(a < tb and ta < b for ta, tb in taken):
                continue
            taken.append((a, b))
            role = INSTRUMENTS[name].role
            nxt = re.match(r"[\s,]*([a-z]+)", text[b:])
            after = _ROLE_AFTER.get(nxt.group(1)) if nxt else None  # None: no role word ("ostinato" keeps the role)
            if after and name != "drums":
                role = after
            found.append((a, name, role))
    found.sort()
    names: list[str] = []
    roles: list[tuple[str, str]] = []
    for _, name, role in found:
        if name not in names:
            names.append(name)
            roles.append((name, role))
    return tuple(names), tuple(roles)


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
                spans = _find(w, text)
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


def _first(words: tuple[str, ...], text: str) -> tuple[int, str] | None:
    hits = [(spans[0][0], w) for w in words if (spans := _find(w, text))]
    return min(hits) if hits else None


def parse_prompt(text: str) -> PromptInfo:
    """Read a plain-text prompt; unknown words are ignored. See `PromptInfo` for the fields."""
    if not isinstance(text, str):
        raise TypeError(f"prompt must be a string, got {text!r}")
    low = _plain(text)
    style, genre, fallback = _style(low)
    key, mode = _key(text)
    mood_hit = _first(_MAJOR_MOODS + _MINOR_MOODS + _OTHER_MOODS, low)
    mood = mood_hit[1] if mood_hit else None
    if mode is None and mood is not None:
        # the first mood word that implies a mode decides it
        implied = _first(_MAJOR_MOODS + _MINOR_MOODS, low)
        if implied:
            mode = "major" if implied[1] in _MAJOR_MOODS else "minor"
    values = [v for w, v in _INTENSITY.items() if _find(w, low)]
    intensity = sum(values) / len(values) if values else STYLES[style].intensity
    paces = [v for w, v in _PACE.items() if _find(w, low)]
    pace = sum(paces) / len(paces) if paces else None
    itext = low
    for phrase in _NOT_INSTRUMENTS:
        for a, b in _find(phrase, itext):
            itext = itext[:a] + " " * (b - a) + itext[b:]
    names, roles = _instruments(itext)
    solo = any(_find(w, low) for w in _SOLO_WORDS) and bool(names)
    sparse = solo or any(_find(w, low) for w in _SPARSE_WORDS)
    tempo = _tempo(low)
    meter = _meter(low)
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
        mode=mode,
        pace=pace,
        words=words,
        solo=solo,
        sparse=sparse,
        fallback=fallback,
        genre=genre,
    )
