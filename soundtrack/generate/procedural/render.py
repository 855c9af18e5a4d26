"""Render a symbolic `Score` to audio per layer: SoundFont and built-in voices, reverb, loudness.

Every note starts on its exact frame: ``entry + round_half_up(start_beats * frames_per_beat)``,
with `entry` the frame of bar 1 beat 1 (the length of the pickup). Each layer is rendered on its
own (own synth, own reverb), so the mix is exactly the float32 sum of the layers.

Roles shape the audio after the music's last bar (`exit`):

- a loop (main) is one cycle as if played once: its head ``[0, exit)`` starts dry (nothing of
  an earlier cycle rings in it) and its tail (after `exit`) is everything that rings past the
  loop end. The sequencer adds the tail of whatever played before onto each head (the same
  loop again, another variant, an intro), so each seam equals the continuous performance; a
  tail folded into the head would be right only when the loop follows itself, and doubles the
  reverb (a step at the seam) whenever another variant or state precedes it;
- every tail is trimmed where it falls below -70 dBFS; an outro also fades its last moments so
  it ends below -60 dBFS.

All layers share one gain that sets the mix (over the music, entry to exit; for a loop, the
cycle as heard while it repeats: head plus the tails of the cycles before) to the nominal
loudness and keeps every layer and the mix at or below -1 dBFS sample peak. No limiter, so the
layers still sum to the mix.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from soundtrack.audio import SILENCE_LUFS, db_to_gain, gain_to_db, integrated_loudness
from soundtrack.errors import GenerationError
from soundtrack.generate.procedural.effects import pan_gains, reverb
from soundtrack.generate.procedural.score import Part, Score
from soundtrack.generate.procedural.synth import NoteEvent, render_notes
from soundtrack.timing import BeatGrid

TARGET_LUFS = -18.0
PEAK_CEILING_DB = -1.0
TAIL_FLOOR_DB = -70.0  # a tail is trimmed where the mix stays below this
OUTRO_END_DB = -60.0
OUTRO_FADE_SECONDS = 0.3
MAX_TAIL_SECONDS = {"intro": 4.0, "main": 4.0, "outro": 5.0, "stinger": 4.0, "bridge": 4.0}
RELEASE_CAP_SECONDS = 3.0  # longest a SoundFont note may ring after its note-off
_BLOCK = 2400  # frames rendered at a time while waiting for a release to die away
_MELODIC_CHANNELS = tuple(c for c in range(16) if c != 9)  # 9 is the GM drum channel


def default_soundfont() -> str:
    """The General MIDI SoundFont shipped inside pretty_midi (TimGM6mb.sf2)."""
    import pretty_midi

    return os.path.join(os.path.dirname(pretty_midi.__file__), "TimGM6mb.sf2")


@dataclass(frozen=True)
class Rendered:
    """The audio of one score: layers (float32, frames x 2) and the frames that place it."""

    layers: dict[str, np.ndarray]
    entry: int
    exit: int
    frames: int
    meta: dict[str, Any] = field(default_factory=dict)


# -- timing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """How a score maps onto frames: where bar 1 sits and where its last bar ends."""

    grid: BeatGrid  # origin = entry
    entry: int
    exit: int
    loop: bool
    wrap_beats: Fraction  # loops: notes before bar 1 sound this many beats later (end of the cycle)

    def onset(self, beats: Fraction) -> int:
        return self.grid.origin + self.grid.beats_to_frames(beats)


def place(score: Score, *, sample_rate: int, body_beats: Fraction | None = None) -> Placement:
    """Entry and exit frames of `score`: entry = pickup length, exit = entry + its beats."""
    body = score.total_beats if body_beats is None else Fraction(body_beats)
    base = BeatGrid(sample_rate, score.bpm, score.meter, 0)
    if score.loop:
        # a loop has no pickup of its own: notes before bar 1 belong to the end of the cycle
        return Placement(base, 0, base.beats_to_frames(body), True, body)
    earliest = min((n.start for p in score.parts for n in p.notes), default=Fraction(0))
    pickup = max(Fraction(score.pickup_beats), -earliest, Fraction(0))
    entry = base.beats_to_frames(pickup)
    return Placement(base.shifted(entry), entry, entry + base.beats_to_frames(body), False, Fraction(0))


def note_frames(part: Part, placement: Placement) -> list[tuple[int, int, int, int]]:
    """(on_frame, off_frame, pitch, velocity) for each note, sorted; off > on always."""
    out = []
    for n in part.notes:
        start = n.start + placement.wrap_beats if (placement.loop and n.start < 0) else n.start
        on = placement.onset(start)
        off = max(on + 1, placement.onset(start + n.duration))
        if on < 0:
            raise GenerationError(f"part {part.name!r}: note at beat {n.start} starts before the audio")
        out.append((on, off, int(n.pitch), max(1, min(127, int(n.velocity)))))
    out.sort()
    return out


# -- one part ----------------------------------------------------------------------------------


class SoundFontPlayer:
    """One tinysoundfont synth for one render call; parts are played one after another on it."""

    def __init__(self, path: str, sample_rate: int) -> None:
        import tinysoundfont

        if not os.path.isfile(path):
            raise GenerationError(f"soundfont {path!r} does not exist; give a General MIDI .sf2 file")
        self.path = path
        self.sample_rate = sample_rate
        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        try:
            self.sfid = self.synth.sfload(path)
        except (RuntimeError, OSError) as e:
            raise GenerationError(f"soundfont {path!r} cannot be loaded ({e}); give a valid .sf2 file") from None
        self._next_chan = 0
        self.fallbacks: list[str] = []

    def _channel(self, part: Part) -> int:
        if part.is_drum:
            return 9
        chan = self._next_chan
        self._next_chan = (self._next_chan + 1) % 15
        return chan if chan < 9 else chan + 1  # skip the GM drum channel

    def _select(self, chan: int, part: Part) -> None:
        bank = 128 if part.is_drum else 0
        program = int(part.program)
        try:
            self.synth.program_select(chan, self.sfid, bank, program, is_drums=part.is_drum)
        except RuntimeError:
            # this SoundFont lacks the preset: the bank's first one, and say so in the meta
            note = f"{part.name}: bank {bank} program {program} -> 0"
            if note not in self.fallbacks:  # once per part, however many channels it plays on
                self.fallbacks.append(note)
            try:
                self.synth.program_select(chan, self.sfid, bank, 0, is_drums=part.is_drum)
            except RuntimeError:
                raise GenerationError(
                    f"soundfont {self.path!r} has neither bank {bank} program {program} nor program 0 "
                    f"(needed by part {part.name!r})"
                ) from None

    def render(self, part: Part, notes: list[tuple[int, int, int, int]]) -> np.ndarray:
        """The part alone, dry, stereo float64 from frame 0 to the end of its release.

        A melodic note re-struck after its previous note was released cuts that release (the
        synth's ~10 ms quick fade), as a string, key or pipe sounding again does: every pitch
        that is played most gets a channel of its own so the cut touches that pitch alone.
        Without it a repeated short note stacks one multi-second release per strike (TimGM6mb's
        strings ring ~2 s), which blurs an ostinato and costs a voice per strike.
        """
        if part.is_drum:
            chans = {}
            shared = self._channel(part)
        else:
            counts: dict[int, int] = {}
            for _, _, pitch, _ in notes:
                counts[pitch] = counts.get(pitch, 0) + 1
            ranked = sorted(counts, key=lambda p: (-counts[p], p))[: len(_MELODIC_CHANNELS) - 1]
            chans = {p: _MELODIC_CHANNELS[i] for i, p in enumerate(ranked)}
            shared = _MELODIC_CHANNELS[-1]
        used = sorted(set(chans.values()) | {shared})
        for chan in used:
            self._select(chan, part)
            self.synth.control_change(chan, 121, 0)  # reset controllers left by an earlier part
            self.synth.control_change(chan, 7, 127)
            self.synth.control_change(chan, 10, int(round(64 + 63 * max(-1.0, min(1.0, part.pan)))))
        events: list[tuple[int, int, int, int]] = []  # (frame, 0=off/1=on, pitch, velocity)
        for on, off, pitch, vel in notes:
            events.append((on, 1, pitch, vel))
            events.append((off, 0, pitch, 0))
        events.sort()
        held: dict[int, int] = {}  # pitch -> notes of it sounding now
        released: set[int] = set()  # pitches whose last note is in its release
        last = events[-1][0] if events else 0
        cap = int(RELEASE_CAP_SECONDS * self.sample_rate)
        total = last + cap
        buf = bytearray(total * 8)
        mv = memoryview(buf)
        pos = 0
        for frame, kind, pitch, vel in events:
            if frame > pos:
                self.synth.generate_simple(frame - pos, buffer=mv[pos * 8 : frame * 8])
                pos = frame
            chan = chans.get(pitch, shared)
            if kind:
                if pitch in released and not held.get(pitch) and pitch in chans:
                    self.synth.sounds_off(chan)
                released.discard(pitch)
                held[pitch] = held.get(pitch, 0) + 1
                self.synth.noteon(chan, pitch, vel)
            else:
                held[pitch] = held.get(pitch, 1) - 1
                if not held[pitch]:
                    released.add(pitch)
                self.synth.noteoff(chan, pitch)
        # let the releases ring until they are inaudible (or the cap), block by block
        end = total
        while pos < total:
            n = min(_BLOCK, total - pos)
            self.synth.generate_simple(n, buffer=mv[pos * 8 : (pos + n) * 8])
            block = np.frombuffer(buf, dtype=np.float32, count=2 * n, offset=pos * 8)
            pos += n
            if float(np.max(np.abs(block))) < 3e-5:  # -90 dBFS: inaudible after any gain we apply
                end = pos
                break
        # make sure nothing of this part leaks into the next one
        for chan in used:
            self.synth.sounds_off(chan)
        self.synth.generate_simple(_BLOCK)
        audio = np.frombuffer(buf, dtype=np.float32, count=2 * end).reshape(end, 2)
        return audio.astype(np.float64)


def _part_seed(seed: int, index: int, part: Part) -> int:
    return zlib.crc32(f"{seed}:{index}:{part.layer}:{part.name}".encode())


def render_synth_part(part: Part, notes: list[tuple[int, int, int, int]], *, sample_rate: int, seed: int) -> np.ndarray:
    """A part on a built-in voice, dry, stereo float64 (constant-power pan)."""
    events = [(on, NoteEvent(pitch, vel, off - on)) for on, off, pitch, vel in notes]
    mono = render_notes(str(part.synth), events, sample_rate=sample_rate, seed=seed)
    left, right = pan_gains(part.pan)
    return np.stack([mono * left, mono * right], axis=1)


# -- the whole score ---------------------------------------------------------------------------


def _add(acc: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    if acc is None:
        return x.copy()
    if x.shape[0] > acc.shape[0]:
        acc = np.concatenate([acc, np.zeros((x.shape[0] - acc.shape[0],) + acc.shape[1:])])
    acc[: x.shape[0]] += x
    return acc


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    if x.shape[0] >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - x.shape[0],) + x.shape[1:])])


def steady_cycle(x: np.ndarray, period: int) -> np.ndarray:
    """One cycle of the loop `x` (head ``[0, period)`` then its tail) as heard while it repeats:
    ``sum_k x[t + k*period]`` (k >= 0). For measuring only: the stem keeps head and tail apart."""
    if period <= 0:
        raise GenerationError(f"loop period={period} frames must be positive")
    n = x.shape[0]
    cycles = max(1, -(-n // period))
    return _fit(x, cycles * period).reshape((cycles, period) + x.shape[1:]).sum(axis=0)


def _end_fade(n: int, *, silent: int) -> np.ndarray:
    """`n` gains: a cosine from 1 to 0, then `silent` zeros at the very end (outros end in silence)."""
    silent = min(silent, n // 2)
    m = n - silent
    t = (np.arange(m, dtype=np.float64) + 1.0) / m
    return np.concatenate([0.5 + 0.5 * np.cos(np.pi * t), np.zeros(silent)])


def render_score(
    score: Score,
    *,
    sample_rate: int,
    soundfont: str,
    seed: int = 0,
    body_beats: Fraction | None = None,
    target_lufs: float = TARGET_LUFS,
) -> Rendered:
    """Render `score` to per-layer stereo float32 audio, placed, shaped for its role, loudness-matched."""
    placement = place(score, sample_rate=sample_rate, body_beats=body_beats)
    layer_names = score.layers()
    if not layer_names:
        raise GenerationError(f"score for style {score.style!r} has no parts to render")
    player: SoundFontPlayer | None = None
    dry: dict[str, np.ndarray | None] = {k: None for k in layer_names}
    send: dict[str, np.ndarray | None] = {k: None for k in layer_names}
    instruments: dict[str, list[str]] = {k: [] for k in layer_names}
    for i, part in enumerate(score.parts):
        notes = note_frames(part, placement)
        if part.synth:
            audio = render_synth_part(part, notes, sample_rate=sample_rate, seed=_part_seed(seed, i, part))
            instruments[part.layer].append(f"{part.name} (synth {part.synth})")
        else:
            if player is None:
                player = SoundFontPlayer(soundfont, sample_rate)
            audio = player.render(part, notes) if notes else np.zeros((0, 2))
            kind = "drums" if part.is_drum else "program"
            instruments[part.layer].append(f"{part.name} (GM {kind} {part.program})")
        if part.gain_db:
            audio = audio * db_to_gain(part.gain_db)
        dry[part.layer] = _add(dry[part.layer], audio)
        if part.reverb > 0 and audio.shape[0]:
            mono = audio[:, 0] + audio[:, 1]
            mono *= 0.5 * float(part.reverb)
            send[part.layer] = _add(send[part.layer], mono)
    wet: dict[str, np.ndarray] = {}
    for name in layer_names:
        d = dry[name] if dry[name] is not None else np.zeros((0, 2))
        s = send[name]
        if s is not None and np.any(s):
            d = _add(d, reverb(s, sample_rate=sample_rate, seconds=float(score.reverb_seconds)))
        wet[name] = d
    length = max([placement.exit] + [a.shape[0] for a in wet.values()])
    entry, exit_ = placement.entry, placement.exit
    role = score.role
    max_tail = int(MAX_TAIL_SECONDS.get(role, 4.0) * sample_rate)
    layers: dict[str, np.ndarray] = {}
    for name, a in wet.items():
        a = _fit(a, length)
        layers[name] = _fit(a, min(a.shape[0], exit_ + max_tail))
    mix = sum(layers.values())

    # one gain for every layer: nominal loudness over the music as heard (a loop: repeating),
    # then the peak ceiling, on the stem and on the repeating loop alike
    heard = steady_cycle(mix, exit_) if placement.loop else mix
    use_body = exit_ - entry >= int(0.4 * sample_rate)
    loud = integrated_loudness((heard[entry:exit_] if use_body else heard).astype(np.float32), sample_rate)
    gain = db_to_gain(target_lufs - loud) if loud > SILENCE_LUFS else 1.0
    ceiling = db_to_gain(PEAK_CEILING_DB - 0.02)  # margin for float32 rounding of the sum
    peak = max([float(np.max(np.abs(mix))), float(np.max(np.abs(heard)))]
               + [float(np.max(np.abs(x))) for x in layers.values()]
               + ([float(np.max(np.abs(steady_cycle(x, exit_)))) for x in layers.values()] if placement.loop else []))
    if peak * gain > ceiling:
        gain = ceiling / peak
    mix = mix * gain
    layers = {k: v * gain for k, v in layers.items()}

    # trim the tail where the mix stays below the floor; outros fade to silence
    floor = db_to_gain(TAIL_FLOOR_DB)
    loud_frames = np.flatnonzero(np.max(np.abs(mix[exit_:]), axis=1) > floor)
    end = exit_ + (int(loud_frames[-1]) + 1 if loud_frames.size else 0)
    if role == "outro":
        end = max(end, exit_ + int(OUTRO_FADE_SECONDS * sample_rate))
    end = min(end, mix.shape[0]) if role != "outro" else end
    fade_n = int((OUTRO_FADE_SECONDS if role == "outro" else 0.01) * sample_rate)
    fade_n = min(fade_n, end - exit_)
    out: dict[str, np.ndarray] = {}
    for name, a in layers.items():
        a = _fit(a, end)
        if fade_n > 0:
            a[end - fade_n :] *= _end_fade(fade_n, silent=int(0.06 * sample_rate) if role == "outro" else 0)[:, None]
        out[name] = a.astype(np.float32)
    mix32 = np.zeros((end, 2), dtype=np.float32)
    for a in out.values():
        mix32 += a
    meta = {
        # a gain shifts loudness by exactly its dB (the gates move with it)
        "loudness_lufs": round(loud + gain_to_db(gain), 2) if loud > SILENCE_LUFS else SILENCE_LUFS,
        # as heard: a loop's repeats sum its head with the tails of the cycles before
        "peak_dbfs": round(gain_to_db(float(np.max(np.abs(steady_cycle(mix32, exit_) if placement.loop and exit_ else mix32)))
                                      if mix32.size else 0.0), 2),
        "gain_db": round(gain_to_db(gain), 2),
        "instruments": instruments,
    }
    if player is not None and player.fallbacks:
        meta["soundfont_fallbacks"] = player.fallbacks
    return Rendered(out, entry, exit_, end, meta)
