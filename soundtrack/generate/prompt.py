"""What any generator can read from a plain-text prompt: tempo, meter, key and mode, mood,
intensity and pace. Shared by the procedural composer (which adds its own genre and instrument
vocabulary on top) and the neural generator (which must land on the tempo and meter a prompt
names). It never fails on free text: what it does not recognise is ignored, and an explicit
tempo outside MIN_BPM..MAX_BPM or an impossible meter is ignored as if unsaid.
"""

from __future__ import annotations

import re
from fractions import Fraction

from soundtrack.errors import SoundtrackError
from soundtrack.pitch import MODE_SYNONYMS, MODES, Key
from soundtrack.timing import MAX_BPM, MIN_BPM, Meter

INTENSITY_WORDS = {
    "whisper": 0.1, "quiet": 0.15, "soft": 0.2, "gentle": 0.2, "calm": 0.2, "peaceful": 0.2, "delicate": 0.2,
    "subtle": 0.2, "minimal": 0.2, "sparse": 0.2, "relaxed": 0.25, "relaxing": 0.25, "mellow": 0.3, "light": 0.3,
    "low key": 0.3, "moderate": 0.5, "suspenseful": 0.55, "building": 0.6, "tense": 0.6, "urgent": 0.75,
    "energetic": 0.75, "driving": 0.8, "heavy": 0.85, "intense": 0.85, "epic": 0.85, "powerful": 0.85,
    "loud": 0.85, "combat": 0.85, "battle": 0.85, "fight": 0.85, "pounding": 0.9, "huge": 0.9, "massive": 0.9,
    "fierce": 0.9, "aggressive": 0.95, "frantic": 0.95, "bombastic": 0.95, "chaotic": 0.95,
}
PACE_WORDS = {
    "very slow": 0.0, "slow": 0.1, "slowly": 0.1, "downtempo": 0.15, "lazy": 0.15, "ballad": 0.1, "laid back": 0.25,
    "moderate": 0.5, "mid tempo": 0.5, "mid-tempo": 0.5, "medium": 0.5, "upbeat": 0.8, "uptempo": 0.85,
    "up-tempo": 0.85, "fast": 0.9, "quick": 0.85, "rapid": 0.95, "frantic": 1.0, "very fast": 1.0,
}
MAJOR_MOODS = ("happy", "bright", "triumphant", "heroic", "playful", "uplifting", "hopeful", "whimsical",
               "cheerful", "joyful", "sunny", "victorious", "romantic", "warm", "festive")
MINOR_MOODS = ("dark", "mysterious", "tense", "sad", "melancholic", "melancholy", "eerie", "ominous", "lonely",
               "sinister", "gloomy", "tragic", "somber", "sombre", "scary", "creepy", "spooky", "menacing",
               "suspenseful", "nostalgic")
OTHER_MOODS = ("calm", "peaceful", "epic", "dreamy", "chill", "mellow", "energetic", "aggressive", "intense")
# Mode names to look for; two-word names first, so "harmonic minor" wins over the "minor" in it.
MODE_WORDS = tuple(sorted((*MODES, *MODE_SYNONYMS), key=lambda w: " " not in w))


def plain(text: str) -> str:
    """Lower case, runs of white space as one space: the text the phrase finders read."""
    return " ".join(text.lower().split())


def _phrase_re(phrase: str) -> re.Pattern[str]:
    return re.compile(r"(?<![a-z0-9])" + re.escape(phrase).replace(r"\ ", r"[\s_-]+") + r"(?![a-z0-9])")


_PHRASE_CACHE: dict[str, re.Pattern[str]] = {}


def find_phrase(phrase: str, text: str) -> list[tuple[int, int]]:
    """Spans of `phrase` as whole words in plain `text` (a space also matches "_" and "-")."""
    pat = _PHRASE_CACHE.get(phrase)
    if pat is None:
        pat = _PHRASE_CACHE[phrase] = _phrase_re(phrase)
    return [m.span() for m in pat.finditer(text)]


def first_phrase(words: tuple[str, ...], text: str) -> tuple[int, str] | None:
    """(position, word) of whichever of `words` comes first in `text`, or None."""
    hits = [(spans[0][0], w) for w in words if (spans := find_phrase(w, text))]
    return min(hits) if hits else None


def read_tempo(text: str) -> Fraction | None:
    """The tempo in plain `text` ("96 bpm", "tempo 96"), or None."""
    m = re.search(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s*-?\s*bpm\b", text) or re.search(
        r"\btempo\s*(?:of|=|:)?\s*(\d{1,3}(?:\.\d+)?)(?![\d/])", text
    )
    if not m:
        return None
    bpm = Fraction(m.group(1))
    return bpm if MIN_BPM <= bpm <= MAX_BPM else None


def read_meter(text: str) -> Meter | None:
    """The meter in plain `text` ("7/8", "waltz" = 3/4), or None."""
    for m in re.finditer(r"(?<![\d/.])(\d{1,2})\s*/\s*(\d{1,2})(?![\d/])", text):
        try:
            return Meter(int(m.group(1)), int(m.group(2)))
        except SoundtrackError:
            continue
    if find_phrase("waltz", text):
        return Meter(3, 4)
    return None


def prompt_tempo(text: str) -> Fraction | None:
    """The tempo a prompt names ("96 bpm", "tempo 96"), or None (none, or outside MIN_BPM..MAX_BPM)."""
    return read_tempo(plain(text))


def prompt_meter(text: str) -> Meter | None:
    """The meter a prompt names ("7/8", "waltz" = 3/4), or None."""
    return read_meter(plain(text))


# an accidental in prose: a sign or a word; a flat "b" only in lower case ("Bb minor", not "BB minor")
_ACC = r"(#|♯|(?-i:b)|♭|\s*-?\s*(?i:sharp|flat))?"
_MODES_RE = "|".join(m.replace(" ", r"\s+") for m in MODE_WORDS)


def prompt_key(raw: str) -> tuple[Key | None, str | None]:
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
    for word in MODE_WORDS:
        if find_phrase(word, low):
            return None, Key.parse(f"C {word}").mode
    return None, None


def prompt_mood(low: str, mode: str | None) -> tuple[str | None, str | None]:
    """(the first mood word, the mode) in plain `low`: a mood that implies a mode decides it
    when the prompt names no mode itself."""
    hit = first_phrase(MAJOR_MOODS + MINOR_MOODS + OTHER_MOODS, low)
    mood = hit[1] if hit else None
    if mode is None and mood is not None:
        implied = first_phrase(MAJOR_MOODS + MINOR_MOODS, low)
        if implied:
            mode = "major" if implied[1] in MAJOR_MOODS else "minor"
    return mood, mode


def prompt_intensity(low: str) -> float | None:
    """The mean of the intensity words in plain `low` (0..1), or None when there are none."""
    values = [v for w, v in INTENSITY_WORDS.items() if find_phrase(w, low)]
    return sum(values) / len(values) if values else None


def prompt_pace(low: str) -> float | None:
    """The mean of the pace words in plain `low` (0 slow .. 1 fast), or None."""
    paces = [v for w, v in PACE_WORDS.items() if find_phrase(w, low)]
    return sum(paces) / len(paces) if paces else None
