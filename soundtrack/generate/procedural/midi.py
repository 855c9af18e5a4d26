"""Export a `Score` as a standard MIDI file (type 1) a composer can open in a DAW.

One track of meta events (tempo, time signature, key signature), then one track per part with
its name, General MIDI program and notes; drums go on channel 10. A pickup is kept by starting
the file at the pickup, so bar 1 beat 1 is at tick ``pickup * ticks_per_beat``.
"""

from __future__ import annotations

import io
from fractions import Fraction

import mido

from soundtrack.generate.procedural.score import Score
from soundtrack.pitch import Key
from soundtrack.timing import round_half_up

TICKS_PER_QUARTER = 480
_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")


def key_signature_name(key: Key) -> str:
    """The MIDI key signature for `key`: modes borrow the accidentals of their parent major scale."""
    parent = next((t for t in range(12) if Key(t, "major").pcs == key.pcs), None)
    if parent is None:  # harmonic minor and other non-diatonic modes: the plain major/minor
        return _MINOR_NAMES[key.tonic] if key.is_minor else _MAJOR_NAMES[key.tonic]
    if key.is_minor:
        return _MINOR_NAMES[(parent + 9) % 12]
    return _MAJOR_NAMES[parent]


def ticks_per_beat(score: Score) -> int:
    """Ticks per score beat (the meter's lower note): 480 per quarter note."""
    return TICKS_PER_QUARTER * 4 // score.meter.unit


def score_to_midi(score: Score) -> bytes:
    """The bytes of a type-1 standard MIDI file of `score`."""
    tpb = ticks_per_beat(score)
    earliest = min((n.start for p in score.parts for n in p.notes), default=Fraction(0))
    offset = max(Fraction(score.pickup_beats), -earliest, Fraction(0)) if not score.loop else max(Fraction(0), -earliest)

    def tick(beats: Fraction) -> int:
        return round_half_up((beats + offset) * tpb)

    mf = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_QUARTER)
    meta = mido.MidiTrack()
    # tempo counts the meter's beat; MIDI tempo is microseconds per quarter note
    us_per_quarter = round_half_up(Fraction(60_000_000) * score.meter.unit / (4 * score.bpm))
    meta.append(mido.MetaMessage("track_name", name=f"{score.style} {score.role}", time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=us_per_quarter, time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=score.meter.beats, denominator=score.meter.unit, time=0))
    meta.append(mido.MetaMessage("key_signature", key=key_signature_name(score.key), time=0))
    end_tick = tick(score.total_beats)
    meta.append(mido.MetaMessage("end_of_track", time=end_tick))
    mf.tracks.append(meta)

    melodic = 0
    for part in score.parts:
        if part.is_drum:
            chan = 9
        else:
            chan = melodic % 15
            chan = chan if chan < 9 else chan + 1
            melodic += 1
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=f"{part.layer}: {part.name}", time=0))
        if not part.is_drum:
            track.append(mido.Message("program_change", channel=chan, program=int(part.program) & 127, time=0))
        track.append(mido.Message("control_change", channel=chan, control=10,
                                  value=int(round(64 + 63 * max(-1.0, min(1.0, part.pan)))), time=0))
        events: list[tuple[int, int, int, int]] = []  # (tick, 0=off/1=on, pitch, velocity)
        for n in part.notes:
            on = tick(n.start)
            off = max(on + 1, tick(n.start + n.duration))
            events.append((on, 1, int(n.pitch), max(1, min(127, int(n.velocity)))))
            events.append((off, 0, int(n.pitch), 0))
        events.sort()
        now = 0
        for t, kind, pitch, vel in events:
            kind_name = "note_on" if kind else "note_off"
            track.append(mido.Message(kind_name, channel=chan, note=pitch, velocity=vel, time=t - now))
            now = t
        track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
        mf.tracks.append(track)
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()
