"""Prompt understanding: plain text -> style, tempo, key, meter, mood, intensity, instruments."""

from fractions import Fraction

import pytest

from soundtrack.generate.procedural.prompt import parse_prompt, prompt_meter, prompt_tempo
from soundtrack.generate.procedural.styles import STYLES
from soundtrack.pitch import MODE_SYNONYMS, MODES, Key
from soundtrack.timing import MAX_BPM, MIN_BPM, Meter


@pytest.mark.parametrize(
    "text, bpm",
    [
        ("calm ambient at 96 bpm", 96),
        ("96bpm jazz", 96),
        ("rock at 96 BPM", 96),
        ("folk, tempo 104", 104),
        ("synthwave 123.5 bpm", Fraction(247, 2)),
        ("orchestral 900 bpm", None),  # outside 20..300: ignored, not fatal
        ("orchestral", None),
    ],
)
def test_tempo_phrasings(text, bpm):
    assert parse_prompt(text).tempo == (None if bpm is None else Fraction(bpm))


@pytest.mark.parametrize(
    "text, key",
    [
        ("dark strings in D minor", Key(2, "minor")),
        ("lofi in F# dorian please", Key(6, "dorian")),
        ("fanfare in Bb major", Key(10, "major")),
        ("chill hop in a minor", Key(9, "minor")),
        ("epic theme, Am", Key(9, "minor")),
        ("jazz ballad in Eb", Key(3, "major")),
        ("metal riff in E phrygian", Key(4, "phrygian")),
        ("a calm piece", None),  # the article "a" is not a key
        ("drone in F sharp dorian", Key(6, "dorian")),
        ("march in B flat major", Key(10, "major")),
        ("nocturne, E-flat minor", Key(3, "minor")),
        ("G SHARP PHRYGIAN riff", Key(8, "phrygian")),
        ("Bbminor pads", Key(10, "minor")),
        ("hymn in B flat", Key(10, "major")),
        ("hymn in E♭, slow", Key(3, "major")),
        ("in A flatland", Key(9, "major")),  # "flat" inside a word is not an accidental
        ("I am calm", None),  # "am" in prose is not A minor
        ("BB minor", None),  # an upper-case B is a note, not a flat
    ],
)
def test_keys(text, key):
    assert parse_prompt(text).key == key


@pytest.mark.parametrize("mode", [*MODES, *MODE_SYNONYMS])
@pytest.mark.parametrize("note", ["C", "c", "F#", "F♯", "F sharp", "F-sharp", "Fsharp", "Bb", "B♭", "B flat", "b-flat", "E FLAT"])
def test_every_note_spelling_and_mode_name_gives_the_key_key_parse_gives(note, mode):
    text = f"{note} {mode}"
    info = parse_prompt(f"theme in {text}, please")
    assert info.key == Key.parse(text) and info.mode == Key.parse(text).mode


def test_mode_words_without_a_note_set_only_the_mode():
    for mode in [*MODES, *MODE_SYNONYMS]:
        info = parse_prompt(f"something {mode} and slow")
        assert info.key is None and info.mode == Key.parse(f"C {mode}").mode
    assert parse_prompt("major and minor").mode == "major"  # the first mode name in MODES' order wins
    assert parse_prompt("harmonic minor drone").mode == "harmonic minor"  # not the "minor" inside it


@pytest.mark.parametrize(
    "text, meter",
    [
        ("folk dance in 3/4", Meter(3, 4)),
        ("prog rock 7/8 groove", Meter(7, 8)),
        ("jig in 6/8", Meter(6, 8)),
        ("a slow waltz", Meter(3, 4)),
        ("open 24/7 radio", None),  # 7 is not a note value
        ("rock", None),
    ],
)
def test_meters(text, meter):
    assert parse_prompt(text).meter == meter


def test_tempo_and_meter_helpers_read_as_parse_prompt_does():
    for text in ("Rock  at 96   BPM, 7/8", "a slow waltz, tempo 84", "orchestral 900 bpm", "open 24/7 radio"):
        info = parse_prompt(text)
        assert (prompt_tempo(text), prompt_meter(text)) == (info.tempo, info.meter)
    assert prompt_tempo(f"{MIN_BPM} bpm") == MIN_BPM and prompt_tempo(f"{MAX_BPM} bpm") == MAX_BPM
    assert prompt_tempo(f"{MIN_BPM - 1} bpm") is None and prompt_tempo(f"{MAX_BPM + 1} bpm") is None


@pytest.mark.parametrize(
    "text, style",
    [
        ("spooky haunted mansion", "horror"),
        ("8-bit platformer level", "chiptune"),
        ("80s retro synth night drive", "synthwave"),
        ("chill hop study beats", "lofi"),
        ("epic battle theme", "orchestral"),
        ("smoky lounge bar", "jazz"),
        ("acoustic campfire song", "folk"),
        ("heavy metal boss fight", "rock"),
        ("meditative drone", "ambient"),
        ("mysterious dark ambient exploration", "ambient"),  # a genre noun outweighs a mood word
        ("dark heavy rock boss battle", "rock"),
        ("intense epic orchestral combat, taiko drums", "orchestral"),
    ],
)
def test_style_synonyms(text, style):
    assert parse_prompt(text).style == style


def test_unknown_words_are_ignored_not_fatal():
    info = parse_prompt("xyzzy frobnicate the quux, 12 parsecs")
    assert info.style == "ambient"
    assert (info.tempo, info.key, info.meter, info.instruments) == (None, None, None, ())
    assert parse_prompt("flurbly quantum jazz glorp").style == "jazz"
    assert parse_prompt("").style in STYLES


def test_intensity_words_order_prompts():
    soft = parse_prompt("soft calm gentle folk").intensity
    mid = parse_prompt("folk").intensity
    hard = parse_prompt("intense aggressive driving folk").intensity
    assert 0 <= soft < 0.3 and hard > 0.8 and soft < mid < hard <= 1


def test_instruments_and_their_roles():
    info = parse_prompt("mysterious ambient, soft strings, harp arpeggios, taiko drums, rhodes piano")
    assert info.instruments == ("strings", "harp", "taiko", "rhodes")  # "rhodes piano" is one instrument
    roles = dict(info.roles)
    assert roles == {"strings": "pad", "harp": "arp", "taiko": "perc", "rhodes": "pad"}
    assert dict(parse_prompt("harp melody").roles) == {"harp": "lead"}
    assert parse_prompt("distorted guitar and brass").instruments == ("distorted guitar", "brass")


def test_how_a_named_instrument_sits_in_the_mix():
    info = parse_prompt("mysterious dungeon, soft strings, harp arpeggios, featuring a flute, and brass")
    assert dict(info.prominence) == {"strings": "back", "harp": "front", "flute": "front", "brass": "named"}
    assert dict(parse_prompt("gentle piano and distant choir").prominence) == {"piano": "back", "choir": "back"}


def test_mood_implies_mode_unless_a_key_is_given():
    assert parse_prompt("dark folk").mode == "minor"
    assert parse_prompt("happy rock").mode == "major"
    assert parse_prompt("dark folk in G major").key == Key(7, "major")
    assert parse_prompt("spooky").mood == "spooky"


def test_pace_words():
    assert parse_prompt("slow jazz").pace < 0.3 < 0.7 < parse_prompt("upbeat jazz").pace
    assert parse_prompt("jazz").pace is None


# -- genre words, solo and sparse, fallback, ensembles (issue 13) --------------------------------


@pytest.mark.parametrize("text, style, genre", [
    ("news podcast intro, confident and punchy", "orchestral", "news"),
    ("170 bpm drum and bass", "synthwave", "drum and bass"),
    ("sad solo piano", "ambient", "solo piano"),
    ("an elegant waltz", "orchestral", "waltz"),
    ("taiko drums and brass", "orchestral", None),
    ("lofi hip hop beats", "lofi", "lofi"),
    ("trap beat with 808s", "lofi", "trap"),
    ("epic movie trailer", "orchestral", "trailer"),
    ("bossa nova for a cooking show", "jazz", "bossa nova"),
])
def test_genre_words_decide_the_style(text, style, genre):
    info = parse_prompt(text)
    assert (info.style, info.fallback) == (style, False), text
    if genre is not None:
        assert info.genre == genre


def test_a_prompt_without_a_genre_says_it_fell_back():
    info = parse_prompt("a quiet moment")
    assert info.fallback and info.style == "ambient" and info.genre is None
    assert "drum and bass" not in [n for n in parse_prompt("170 bpm drum and bass").instruments]
    assert parse_prompt("170 bpm drum and bass").instruments == ()  # "bass" there names no bass guitar


def test_solo_and_sparse_words():
    solo = parse_prompt("sad solo piano")
    assert solo.solo and solo.sparse and solo.instruments == ("piano",)
    over = parse_prompt("a guitar solo over drums")  # solo: the guitar and the drums it names, nothing else
    assert over.solo and over.instruments == ("overdriven guitar", "drums")
    sparse = parse_prompt("minimal ambient bed")
    assert sparse.sparse and not sparse.solo
    assert not parse_prompt("epic orchestral battle").sparse


def test_ensembles_and_grooves_follow_the_words_and_else_the_seed():
    from soundtrack.generate.procedural.plan import make_plan
    from soundtrack.stem import StemSpec

    assert make_plan(StemSpec("celtic tavern music", seed=1)).ensemble == "celtic band"
    assert make_plan(StemSpec("170 bpm drum and bass", seed=1)).groove == "breakbeat"
    assert make_plan(StemSpec("an elegant waltz", seed=1)).groove == "waltz"
    seen = {make_plan(StemSpec("synthwave music", seed=s)).ensemble for s in range(12)}
    assert len(seen) >= 2  # the same words, another seed: sometimes another band
    # a named instrument wins over the ensemble's
    plan = make_plan(StemSpec("synthwave with a saxophone lead", seed=3))
    assert plan.voices["lead"].program == 65 and plan.named["saxophone"] == "lead"
