import pytest

from soundtrack.errors import KeyNameError
from soundtrack.pitch import Key


@pytest.mark.parametrize(
    "text,tonic,mode",
    [("D minor", 2, "minor"), ("f# dorian", 6, "dorian"), ("Bb", 10, "major"), ("Am", 9, "minor"),
     ("C major", 0, "major"), ("Eb harmonic minor", 3, "harmonic minor"), ("B aeolian", 11, "minor"), ("Cb major", 11, "major"),
     ("F sharp dorian", 6, "dorian"), ("B flat major", 10, "major"), ("E-flat minor", 3, "minor"), ("Bflat", 10, "major"),
     ("g SHARP mixolydian", 8, "mixolydian"), ("C - sharp", 1, "major"), ("D♭ lydian", 1, "lydian")],
)
def test_key_names(text, tonic, mode):
    k = Key.parse(text)
    assert (k.tonic, k.mode) == (tonic, mode)


@pytest.mark.parametrize("text,message", [("H minor", "note name"), ("D blues", "mode 'blues' is unknown; valid modes are major, minor")])
def test_unknown_keys_say_what_is_valid(text, message):
    with pytest.raises(KeyNameError, match=message):
        Key.parse(text)


def test_degrees():
    d = Key.parse("D minor")
    assert [d.degree_pc(i) for i in range(7)] == [2, 4, 5, 7, 9, 10, 0]
    assert d.degree_pitch(0, base=62) == 62 and d.degree_pitch(2, base=62) == 65 and d.degree_pitch(-1, base=62) == 60
    assert d.is_minor and not Key.parse("G mixolydian").is_minor


def test_pitch_classes_of_a_key():
    assert Key.parse("D minor").pcs == frozenset({2, 4, 5, 7, 9, 10, 0})
    assert Key.parse("A minor").pcs == Key.parse("C major").pcs == Key.parse("D dorian").pcs
    assert Key.parse("A harmonic minor").pcs == frozenset({9, 11, 0, 2, 4, 5, 8})
