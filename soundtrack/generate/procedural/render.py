"""Render a symbolic `Score` to audio per layer: SoundFont and built-in voices, a mix, loudness.

Every note starts on its exact frame: ``entry + round_half_up((start + nudge) * frames_per_beat)``,
with `entry` the frame of bar 1 beat 1 (the length of the pickup) and `nudge` the performer's
micro-timing (zero for kick and snare). Each layer is rendered on its own, so the mix is exactly
the float32 sum of the layers:

- per part: the instrument (a General MIDI preset of the SoundFont, played by FluidSynth or
  tinysoundfont, see `SoundFontPlayer`; or a built-in voice), its role's EQ (`mixing.part_eq`),
  its gain and pan;
- per layer: the dry parts plus the layer's reverb send through the room (`effects.reverb`);
- the bus: a glue compressor, the loudness gain and, last, a look-ahead limiter, each a gain
  curve computed from the mix as heard and applied alike to every layer (so the layers still
  sum to the mix, and a loop's repeats see the same gain as its first pass).

Roles shape the audio after the music's last bar (`exit`):

- a loop (main) is one cycle as if played once: its head ``[0, exit)`` starts dry (nothing of
  an earlier cycle rings in it) and its tail (after `exit`) is everything that rings past the
  loop end. The sequencer adds the tail of whatever played before onto each head (the same
  loop again, another variant, an intro), so each seam equals the continuous performance; a
  tail folded into the head would be right only when the loop follows itself, and doubles the
  reverb (a step at the seam) whenever another variant or state precedes it;
- every tail is trimmed where it falls below -70 dBFS; an outro also fades its last moments so
  it ends below -60 dBFS.

The mix (over the music, entry to exit; for a loop, the cycle as heard while it repeats: head
plus the tails of the cycles before) is set to the nominal loudness with every layer and the
mix at or below -1 dBFS sample peak.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from soundtrack.audio import SILENCE_LUFS, db_to_gain, frame_peaks, gain_to_db, integrated_loudness
from soundtrack.errors import GenerationError
from soundtrack.generate.procedural.effects import pan_gains, reverb, reverb_ir
from soundtrack.generate.procedural.mixing import bus_gain, limiter_gain, part_eq, periodic
from soundtrack.generate.procedural.score import Part, Score
from soundtrack.generate.procedural.sfsynth import load_backend
from soundtrack.generate.procedural.soundfonts import CYMBAL_SECONDS, DRUM_KEYS, default_soundfont, font_family, font_hash, preset_for
from soundtrack.generate.procedural.synth import NoteEvent, render_notes
from soundtrack.generate.procedural.tuning import BEND_CENTRE, PROBE_SECONDS, Tuner

__all__ = ["Rendered", "default_soundfont", "note_frames", "place", "render_score", "steady_cycle"]
from soundtrack.timing import BeatGrid

TARGET_LUFS = -18.0
PEAK_CEILING_DB = -1.0
TAIL_FLOOR_DB = -70.0  # a tail is trimmed where the mix stays below this
OUTRO_END_DB = -60.0
OUTRO_FADE_SECONDS = 0.3
MAX_TAIL_SECONDS = {"intro": 4.0, "main": 4.0, "outro": 5.0, "stinger": 4.0, "bridge": 4.0}
RELEASE_CAP_SECONDS = 2.5  # longest a SoundFont note may ring after its note-off
_BLOCK = 4096  # frames rendered at a time while waiting for a release to die away




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
        on = placement.onset(start + n.nudge)  # the performer's micro-timing; the note-off stays
        off = max(on + 1, placement.onset(start + n.duration))
        if on < 0:
            raise GenerationError(f"part {part.name!r}: note at beat {n.start} starts before the audio")
        out.append((on, off, int(n.pitch), max(1, min(127, int(n.velocity)))))
    out.sort()
    return out


# -- one part ----------------------------------------------------------------------------------


class SoundFontPlayer:
    """Plays parts on the process's cached SoundFont back end for `path` (see `sfsynth`).

    A part is rendered as groups: the notes that start on one frame are played together on a
    freshly reset channel from a block boundary of the synth, so every group starts on its
    exact frame; each group rings until it is inaudible (-90 dBFS) or RELEASE_CAP_SECONDS after
    its last note-off (then it fades over 50 ms, never a step), and the groups are summed. So no
    note is ever cut by a later one (a re-struck pitch rings on under the new strike, as an
    undamped string does), whatever the back end's envelope granularity.
    """

    def __init__(self, path: str, sample_rate: int) -> None:
        self.backend = load_backend(path, sample_rate, font_hash(path))
        self.backend.renew()
        self.path = path
        self.family = font_family(path)
        self.sample_rate = sample_rate
        self.fallbacks: list[str] = []
        self.presets: dict[str, str] = {}  # part -> the preset heard
        self.tunings: list[str] = []  # what the percussion tuning moved, one line per part
        self._scratch = np.zeros((0, 2), dtype=np.float32)
        self._tuners: dict[tuple[int, int], Tuner] = {}

    def _tuner(self, chan: int, bank: int, program: int) -> Tuner:
        """The ear for one melodic preset: renders a hit alone (fresh synth, centred, full volume)."""
        t = self._tuners.get((bank, program))
        if t is None:
            be, sr = self.backend, self.sample_rate

            def probe(key: int, bend: int) -> np.ndarray:
                be.renew()
                be.select(chan, bank, program, False)
                for num, val in ((7, 127), (10, 64), (11, 127), (1, 0)):
                    be.cc(chan, num, val)
                be.bend(chan, bend)
                be.noteon(chan, key, 100)
                n = int(PROBE_SECONDS * sr)
                buf = np.zeros((n, 2), dtype=np.float32)
                be.render(n, buf, 0)
                be.quiet(chan)
                return buf.mean(axis=1)

            t = self._tuners[(bank, program)] = Tuner(probe, sr)
        return t

    def _tuning(self, part: Part, notes: list[tuple[int, int, int, int]], chan: int, bank: int,
                program: int) -> tuple[list[tuple[int, int, int, int]], dict[int, int]]:
        """A pitched-percussion part (taiko, timpani) played at the key and bend where it is heard
        at the pitch written (see `tuning`). Returns the notes (keys moved) and each played
        key's bend; the channel is left as `render` set it up (fresh, preset selected)."""
        bends: dict[int, int] = {}
        tuner = self._tuner(chan, bank, program)
        probes = tuner.probes
        moved: dict[int, int] = {}
        for w in sorted({p for _, _, p, _ in notes}):
            k, b = tuner.pitched(w, max(0, w - 7), min(127, w + 7))
            if k in moved.values() and bends.get(k, BEND_CENTRE) != b:
                k, b = w, BEND_CENTRE  # that key already sounds another pitch (one bend per key): as written
            moved[w] = k
            if b != BEND_CENTRE:
                bends[k] = b
        if tuner.probes != probes:  # the probes played on this synth: a fresh one for the part
            self.backend.renew()
            self.backend.select(chan, bank, program, False)
        if not any(k != w for w, k in moved.items()) and not bends:
            return notes, bends
        self._say_tuning(part, bends, moved)
        return [(on, off, moved[p], v) for on, off, p, v in notes], bends

    @property
    def engine(self) -> str:
        return self.backend.name

    def _select(self, chan: int, part: Part) -> tuple[int, int]:
        bank = 128 if part.is_drum else 0
        program = int(part.program) if part.is_drum else preset_for(int(part.program), self.family,
                                                                     sustained=part.legato and part.role == "pad")
        if not self.backend.select(chan, bank, program, part.is_drum):
            note = f"{part.name}: bank {bank} program {program} -> 0"
            if note not in self.fallbacks:
                self.fallbacks.append(note)
            if not self.backend.select(chan, bank, 0, part.is_drum):
                raise GenerationError(
                    f"soundfont {self.path!r} has neither bank {bank} program {program} nor program 0 "
                    f"(needed by part {part.name!r})"
                )
            program = 0
        name = self.backend.preset_name(bank, program)
        if name:
            self.presets[part.name] = name
        return bank, program

    def _say_tuning(self, part: Part, bends: dict[int, int], moved: dict[int, int]) -> None:
        bits = [f"{w} played as {k}" for w, k in moved.items() if k != w]
        bits += [f"{k} bent {round((b - BEND_CENTRE) / 4096 * 100):+d} cents" for k, b in sorted(bends.items())]
        line = f"{part.name}: tuned by ear ({', '.join(bits)})"
        if line not in self.tunings:
            self.tunings.append(line)

    def render(self, part: Part, notes: list[tuple[int, int, int, int]], *,
               expression: list[tuple[int, int]] | None = None) -> np.ndarray:
        """The part alone, dry, stereo float64 from frame 0 to the end of its release.

        `expression`: CC11 breakpoints (frame, 0..127) the part follows (sampled every 5 ms); a
        legato part with `vibrato_cents` raises the mod wheel (CC1: the font's vibrato) on each
        note held past 0.3 s, and bends the pitch on a back end without modulators.
        """
        if not notes:
            return np.zeros((0, 2))
        be = self.backend
        be.renew()  # a fresh synth per part (FluidSynth's reused voices keep filter state): < 1 ms
        chan = 9 if part.is_drum else 0
        bank, program = self._select(chan, part)
        pan = int(round(64 + 63 * max(-1.0, min(1.0, part.pan))))
        # a kit plays each hit alone, so that the dead time a drum sample has before its attack
        # (FluidR3's kicks and snares: ~2 ms) can be trimmed: the hit lands on its frame
        groups: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        if part.is_drum:
            remap = DRUM_KEYS.get(self.family, {})
            notes = [(on, off, remap.get(pitch, pitch), vel) for on, off, pitch, vel in notes]
        bends: dict[int, int] = {}
        if not part.is_drum and part.role == "perc":  # taiko, timpani: played where heard as written
            notes, bends = self._tuning(part, notes, chan, bank, program)
        for on, off, pitch, vel in notes:
            groups.setdefault((on, pitch if part.is_drum else 0), []).append((off, pitch, vel))
        sr = self.sample_rate
        cap = int(RELEASE_CAP_SECONDS * sr)
        expr = None
        if expression:
            ex = np.array([f for f, _ in expression], dtype=np.float64)
            ey = np.array([v for _, v in expression], dtype=np.float64)
            expr = (ex, ey)
        vib = float(part.vibrato_cents) if part.legato else 0.0
        step = max(1, int(round(_CTRL_FRAMES * sr / 48_000)))
        pieces: list[tuple[int, np.ndarray]] = []
        end_all = 0
        for gkey in sorted(groups):
            on = gkey[0]
            grp = groups[gkey]
            last_off = max(off for off, _, _ in grp)
            be.cc(chan, 121, 0)
            be.cc(chan, 7, 127)
            be.cc(chan, 10, pan)
            be.cc(chan, 1, 0)
            be.bend(chan, bends.get(grp[0][1], BEND_CENTRE))
            # control events inside the group: expression, vibrato (frame relative to `on`)
            ctrl: list[tuple[int, int, int]] = []
            if expr is not None:
                fr = np.arange(on, last_off + step, step, dtype=np.float64)
                vals = np.clip(np.round(np.interp(fr, *expr)), 0, 127).astype(int)
                be.cc(chan, 11, int(vals[0]))
                prev = int(vals[0])
                for f, v in zip(fr.tolist(), vals.tolist()):
                    if v != prev:
                        ctrl.append((int(f) - on, 11, v))
                        prev = v
            else:
                be.cc(chan, 11, 127)
            if vib > 0 and len(grp) == 1 and last_off - on > int(0.3 * sr):
                ctrl.extend(_vibrato(vib, last_off - on, sr, step, be.name))
            # drum hits ring out as the kit's samples do (a GM kit ignores note-offs; a fast
            # release of a hat or a tom is a click)
            offs = [] if part.is_drum else [(off - on, 0, p, 0) for off, p, _ in grp]
            events = sorted(offs + [(f, 2, c, v) for f, c, v in ctrl])
            for _, p, v in grp:
                be.noteon(chan, p, v)
            length = last_off - on + cap
            if self._scratch.shape[0] < length:
                self._scratch = np.zeros((length + length // 2, 2), dtype=np.float32)
            buf = self._scratch  # the back ends overwrite what they render: no clearing needed
            pos = 0
            fine_until = min(length, int(0.012 * sr)) if be.fine else 0
            for frame, kind, a, b in events:
                frame = min(frame, length)
                pos = self._run(buf, pos, frame, fine_until)
                if kind == 0:
                    be.noteoff(chan, a)
                    if be.fine:
                        fine_until = max(fine_until, min(length, frame + int(0.02 * sr)))
                elif a == _PITCH:
                    be.bend(chan, b)
                else:
                    be.cc(chan, a, b)
            # ring until inaudible (-90 dBFS, or 60 dB under the group's own peak: masked by
            # everything else at any level this stem plays at), block by block
            end = length
            peak = max(float(buf[:pos].max(initial=0.0)), -float(buf[:pos].min(initial=0.0)))
            while pos < length:
                n = min(_BLOCK, length - pos)
                pos = self._run(buf, pos, pos + n, fine_until)
                blk = buf[pos - n : pos : 3]  # every third frame: enough to see a release die away
                level = max(float(blk.max()), -float(blk.min()))
                peak = max(peak, level)
                if level < max(_SILENT, 1e-3 * peak):
                    end = pos
                    break
            be.quiet(chan)
            # where the group falls silent: a sample that ends while still audible (FluidR3's
            # crash and ride cymbals, maracas) stops dead there, and the cap cuts a long release:
            # either way the group fades out over the 30 ms before it (at -80 dB or less when
            # the release really died away, so unchanged then)
            look = max(0, end - 2 * _BLOCK)
            loud = np.flatnonzero(frame_peaks(buf[look:end]) > max(_SILENT, 1e-3 * peak))
            stop = look + int(loud[-1]) + 1 if loud.size else look
            lead = 0
            if part.is_drum and stop:
                hit = frame_peaks(buf[:stop])
                lead = max(0, int(np.argmax(hit > 1e-3 * float(hit.max()))) - 1)  # under -60 dB of its peak
            clip = buf[lead:stop].copy()  # float32 (the scratch buffer is reused); summed in float64 below
            stop -= lead
            if stop:
                # a sampler's de-click attack: a sample that starts off zero (a Rhodes, a piano)
                # steps out of silence; the first milliseconds of a recorded hit hold isolated
                # spikes (FluidR3's toms) that stand out as clicks in a quiet bar
                first = grp[0][1]
                secs = ((0.006 if first in _TOMS else 0.0012 if first in _ON_GRID else 0.004) if part.is_drum
                        else 0.003)  # kick and snare keep their edge: a listener locks to it
                k = min(stop, int(secs * sr))
                clip[:k] *= (np.sin(np.linspace(0.0, 0.5 * np.pi, k, endpoint=False)) ** 2)[:, None]
            cut = CYMBAL_SECONDS.get(self.family, {}).get(grp[0][1]) if part.is_drum else None
            if cut is not None and stop > int(cut * sr):
                # a cymbal damped before its sample's faults: an exponential fall, then 30 ms to zero
                stop = int(cut * sr)
                clip = clip[:stop]
                fall = min(stop, int(0.4 * cut * sr))
                clip[stop - fall :] *= np.exp(np.linspace(0.0, -4.0, fall))[:, None]
            m = min(stop, int(0.03 * sr))
            if m:
                clip[stop - m :] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, m)))[:, None]
            pieces.append((on, clip))
            end_all = max(end_all, on + stop)
        out = np.zeros((end_all, 2))
        for on, clip in pieces:
            out[on : on + clip.shape[0]] += clip
        return out

    def _run(self, buf: np.ndarray, pos: int, to: int, fine_until: int) -> int:
        """Render buf[pos:to]; in FINE-frame calls below `fine_until` (a back end whose envelopes step)."""
        be = self.backend
        while pos < to:
            if pos < fine_until:
                n = min(_FINE, to - pos, fine_until - pos)
            else:
                n = to - pos
            be.render(n, buf, pos)
            pos += n
        return pos


_PITCH = -1  # pseudo-controller: the pitch wheel
_TOMS = {41, 43, 45, 47, 48, 50}  # their samples spike ~1.7 ms in: a 6 ms attack
_ON_GRID = {35, 36, 37, 38, 40}  # kick, side stick, snare
_SILENT = 3e-5  # -90 dBFS: a group that stays under this has rung out
_CTRL_FRAMES = 240  # 5 ms at 48 kHz
_FINE = 8


def _vibrato(cents: float, length: int, sr: int, step: int, engine: str) -> list[tuple[int, int, int]]:
    """A delayed vibrato over one held note (frames from its start): CC1 for FluidSynth (the
    font's own vibrato LFO, ~50 cents at 127), the pitch wheel (+-2 semitones) otherwise."""
    t = np.arange(int(0.25 * sr), length, step)
    depth = cents * np.clip((t / sr - 0.25) / 0.5, 0.0, 1.0)
    out: list[tuple[int, int, int]] = []
    prev = -1
    if engine == "fluidsynth":
        vals = np.clip(np.round(depth / 50.0 * 127), 0, 127).astype(int)
        for f, v in zip(t.tolist(), vals.tolist()):
            if v != prev:
                out.append((f, 1, v))
                prev = v
        return out
    phase = 2 * np.pi * 5.3 * t / sr
    vals = np.clip(np.round(8192 + depth * np.sin(phase) * 8192 / 200.0), 0, 16383).astype(int)
    for f, v in zip(t.tolist(), vals.tolist()):
        if v != prev:
            out.append((f, _PITCH, v))
            prev = v
    return out


def _part_seed(seed: int, index: int, part: Part) -> int:
    return zlib.crc32(f"{seed}:{index}:{part.layer}:{part.name}".encode())


def render_synth_part(part: Part, notes: list[tuple[int, int, int, int]], *, sample_rate: int, seed: int,
                      tonic: int | None = None) -> np.ndarray:
    """A part on a built-in voice, dry, stereo float64 (constant-power pan); `tonic` tunes a
    synth kit to the key."""
    events = [(on, NoteEvent(pitch, vel, off - on)) for on, off, pitch, vel in notes]
    mono = render_notes(str(part.synth), events, sample_rate=sample_rate, seed=seed, tonic=tonic)
    left, right = pan_gains(part.pan)
    return np.stack([mono * left, mono * right], axis=1)


# -- the whole score ---------------------------------------------------------------------------


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    if x.shape[0] >= n:
        return x[:n]
    return np.concatenate([x, np.zeros((n - x.shape[0],) + x.shape[1:])])


def steady_cycle(x: np.ndarray, period: int) -> np.ndarray:
    """One cycle of the loop `x` (head ``[0, period)`` then its tail) as heard while it repeats:
    ``sum_k x[t + k*period]`` (k >= 0). For measuring only: the stem keeps head and tail apart."""
    if period <= 0:
        raise GenerationError(f"loop period={period} frames must be positive")
    out = np.zeros((period,) + x.shape[1:], dtype=np.result_type(x.dtype, np.float32))
    for k in range(0, x.shape[0], period):
        seg = x[k : k + period]
        out[: seg.shape[0]] += seg
    return out


def _summed(xs: Iterable[np.ndarray]) -> np.ndarray:
    """The sum of `xs` in order, as `sum(xs)` adds them (from a zero), typed as an array."""
    return sum(xs, np.zeros(()))


def _peak(x: np.ndarray) -> float:
    return max(float(x.max(initial=0.0)), -float(x.min(initial=0.0)))


def _end_fade(n: int, *, silent: int) -> np.ndarray:
    """`n` gains: a cosine from 1 to 0, then `silent` zeros at the very end (outros end in silence)."""
    silent = min(silent, n // 2)
    m = n - silent
    t = (np.arange(m, dtype=np.float64) + 1.0) / m
    return np.concatenate([0.5 + 0.5 * np.cos(np.pi * t), np.zeros(silent)])


def _expression_frames(part: Part, placement: Placement) -> list[tuple[int, int]] | None:
    if not part.expression:
        return None
    out = []
    for beat, value in part.expression:
        b = Fraction(beat)
        if placement.loop and b < 0:
            b += placement.wrap_beats
        out.append((max(0, placement.onset(b)), int(value)))
    out.sort()
    return out


def render_score(
    score: Score,
    *,
    sample_rate: int,
    soundfont: str,
    seed: int = 0,
    body_beats: Fraction | None = None,
    target_lufs: float = TARGET_LUFS,
) -> Rendered:
    """Render `score` to per-layer stereo float32 audio, placed, mixed, shaped for its role, loudness-matched.

    Per part: the instrument (SoundFont or built-in voice), its role's EQ and pan; per layer: the
    dry parts plus the layer's reverb; then one bus compressor, the loudness gain and the limiter,
    each a gain curve shared by all layers (so the layers still sum to the mix).
    """
    placement = place(score, sample_rate=sample_rate, body_beats=body_beats)
    layer_names = score.layers()
    if not layer_names:
        raise GenerationError(f"score for style {score.style!r} has no parts to render")
    player: SoundFontPlayer | None = None
    rendered: list[tuple[str, np.ndarray, float]] = []  # (layer, dry audio, reverb send amount)
    instruments: dict[str, list[str]] = {k: [] for k in layer_names}
    for i, part in enumerate(score.parts):
        notes = note_frames(part, placement)
        if part.synth:
            audio = render_synth_part(part, notes, sample_rate=sample_rate, seed=_part_seed(seed, i, part),
                                      tonic=score.key.tonic)
            instruments[part.layer].append(f"{part.name} (synth {part.synth})")
        else:
            if player is None:
                player = SoundFontPlayer(soundfont, sample_rate)
            audio = (player.render(part, notes, expression=_expression_frames(part, placement))
                     if notes else np.zeros((0, 2)))
            kind = "drums" if part.is_drum else "program"
            heard = player.presets.get(part.name)
            instruments[part.layer].append(f"{part.name} (GM {kind} {part.program}"
                                           + (f": {heard})" if heard else ")"))
        if part.role and audio.shape[0]:
            audio = part_eq(audio, part.role, sample_rate)
        if part.gain_db:
            audio *= db_to_gain(part.gain_db)
        rendered.append((part.layer, audio, float(part.reverb)))
    entry, exit_ = placement.entry, placement.exit
    role = score.role
    dry_len = max([exit_] + [a.shape[0] for _, a, _ in rendered])
    ir_len = reverb_ir(sample_rate, float(score.reverb_seconds)).shape[0]
    wet_any = any(r > 0 and a.shape[0] for _, a, r in rendered)
    length = min(dry_len + (ir_len if wet_any else 0), exit_ + int(MAX_TAIL_SECONDS.get(role, 4.0) * sample_rate))
    length = max(length, exit_)
    layers: dict[str, np.ndarray] = {}
    for name in layer_names:
        acc = np.zeros((length, 2))
        send = np.zeros(dry_len)
        wet = False
        for layer, a, amount in rendered:
            if layer != name or not a.shape[0]:
                continue
            n = min(a.shape[0], length)
            acc[:n] += a[:n]
            if amount > 0:
                send[: a.shape[0]] += (a[:, 0] + a[:, 1]) * (0.5 * amount)
                wet = True
        if wet and np.any(send):
            acc += reverb(send, sample_rate=sample_rate, seconds=float(score.reverb_seconds), frames=length)
        layers[name] = acc
    mix = _summed(layers.values())
    loop = placement.loop and exit_ > 0

    def heard_of(x: np.ndarray) -> np.ndarray:
        return steady_cycle(x, exit_) if loop else x

    def spread(g: np.ndarray) -> np.ndarray:
        return periodic(g, mix.shape[0]) if loop else g

    # the bus: glue compression on the music as heard (a loop: repeating); then the loudness
    # gain, then the limiter (the last stage), then the loudness once more (the limiter takes a
    # little). Each is a gain curve computed on the heard mix and applied alike to every layer.
    heard0 = heard_of(mix)
    bus_c = bus_gain(heard0, sample_rate, wrap=loop)
    heard1 = heard0 * bus_c[:, None]
    use_body = exit_ - entry >= int(0.4 * sample_rate)

    def loudness(x: np.ndarray) -> float:
        return integrated_loudness((x[entry:exit_] if use_body else x).astype(np.float32), sample_rate)

    loud = loudness(heard1)
    gain = db_to_gain(target_lufs - loud) if loud > SILENCE_LUFS else 1.0
    ceiling = db_to_gain(PEAK_CEILING_DB - 0.05)  # margin for float32 rounding of the sum
    lim_c = np.ones(heard0.shape[0])
    if loud > SILENCE_LUFS:
        for _ in range(2):
            lim_c = limiter_gain(heard1 * gain, sample_rate, ceiling=ceiling, wrap=loop)
            after = loudness(heard1 * (gain * lim_c)[:, None])
            if after <= SILENCE_LUFS or abs(after - target_lufs) < 0.05:
                break
            gain *= db_to_gain(target_lufs - after)
    total = spread(bus_c * lim_c * gain)[:, None]
    for v in layers.values():
        v *= total
    mix = _summed(layers.values())
    peak = max([_peak(mix), _peak(heard_of(mix))] + [_peak(x) for x in layers.values()]
               + ([_peak(steady_cycle(x, exit_)) for x in layers.values()] if loop else []))
    if peak > ceiling:  # an overshoot the limiter may not take (more than its range): lower it all
        fix = ceiling / peak
        gain *= fix
        mix *= fix
        for v in layers.values():
            v *= fix
    lim = lim_c
    loud = loudness(heard_of(mix)) if loud > SILENCE_LUFS else loud

    # trim the tail where the mix stays below the floor; outros fade to silence
    floor = db_to_gain(TAIL_FLOOR_DB)
    loud_frames = np.flatnonzero(frame_peaks(mix[exit_:]) > floor)
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
        "loudness_lufs": round(loud, 2) if loud > SILENCE_LUFS else SILENCE_LUFS,
        # as heard: a loop's repeats sum its head with the tails of the cycles before
        "peak_dbfs": round(gain_to_db(float(np.max(np.abs(steady_cycle(mix32, exit_) if loop else mix32)))
                                      if mix32.size else 0.0), 2),
        "gain_db": round(gain_to_db(gain), 2),
        "limiter_db": round(gain_to_db(float(np.min(lim))), 2) if lim.size else 0.0,
        "instruments": instruments,
    }
    if player is not None and player.fallbacks:
        meta["soundfont_fallbacks"] = player.fallbacks
    if player is not None and player.tunings:
        meta["percussion_tuning"] = player.tunings
    return Rendered(out, entry, exit_, end, meta)
