"""Voice-relative mixing: the music a set number of LU under the voice, in speech and in pauses.

1. **Measure the voice** (`analyse_voice`, one streamed pass): the speech gate of `duck` (50 ms
   RMS every 10 ms, pauses shorter than `hold` bridged) and BS.1770 block powers of the voice as
   it will sound in the mix. Its loudness is **speech-gated**: the BS.1770 integrated loudness
   (absolute and relative gates) over the 400 ms blocks that are mostly speech, so long pauses
   do not pull it down. `--voice-lufs` gains the voice to a level first (optional).
2. **Place the music** (`bed_gains`): the music's own loudness is measured where it will sit
   under speech (blocks fully ducked) and in pauses (blocks fully up); its gain there is set so
   that it lands `bed.speech` LU under the voice under speech and `bed.pause` LU under the voice
   in pauses (defaults 18 and 6 LU: broadcast beds sit 15-20 LU under speech; in a pause the
   music comes up, still clearly under the voice). Between the two the gain moves per sample in
   dB, down over `attack` ending where speech starts, up over `release` (`duck.envelope`).
3. **Master** (`jobs`): voice + music, normalised to the platform target with the true-peak
   ceiling (`encode.publish`).

The result does not depend on how loud the voice was recorded: only the LU differences are set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from soundtrack.audio import SILENCE_LUFS, LoudnessMeter, db_to_gain, gated_loudness
from soundtrack.errors import PodcastError
from soundtrack.podcast.delivery import LOUDNESS_RANGE
from soundtrack.podcast.duck import CONTROL_HZ, DuckSettings, envelope, gate_from_energy, hop_energy
from soundtrack.podcast.stream import Reader, mapped_reader

BED_SPEECH_LU = 18.0
BED_PAUSE_LU = 6.0
BED_RANGE = (0.0, 40.0)
SPEECH_SHARE = 0.5  # a 400 ms block counts as speech when at least this much of it is


@dataclass(frozen=True)
class BedLevels:
    """How far under the voice the music sits, in LU: `speech` while the voice speaks, `pause` in
    the pauses between (speech >= pause: the music comes up in pauses)."""

    speech: float = BED_SPEECH_LU
    pause: float = BED_PAUSE_LU

    def __post_init__(self) -> None:
        for k in ("speech", "pause"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not BED_RANGE[0] <= v <= BED_RANGE[1]:
                raise PodcastError(f"--bed {k}={v!r} must be between {BED_RANGE[0]:g} and {BED_RANGE[1]:g} LU under the voice")
        if self.speech < self.pause:
            raise PodcastError(f"--bed speech={self.speech:g} LU must be at least pause={self.pause:g} LU: the music "
                               "comes up in pauses, never down")

    @classmethod
    def parse(cls, text: str) -> "BedLevels":
        """``18`` (speech; pause stays 6), ``18,6`` or ``speech=18,pause=6`` (LU under the voice)."""
        vals: dict[str, float] = {}
        parts = [x.strip() for x in str(text).split(",") if x.strip()]
        if not parts or len(parts) > 2:
            raise PodcastError(f"--bed {text!r} must be SPEECH[,PAUSE] in LU under the voice, e.g. 18,6")
        for i, part in enumerate(parts):
            k, eq, v = part.partition("=")
            key = k.strip().lower() if eq else ("speech", "pause")[i]
            val = v if eq else k
            if key not in ("speech", "pause") or key in vals:
                raise PodcastError(f"--bed {text!r} must be SPEECH[,PAUSE] or speech=LU,pause=LU")
            try:
                vals[key] = float(val.strip().lower().removesuffix("lu").strip())
            except ValueError:
                raise PodcastError(f"--bed {text!r}: {val.strip()!r} is not a number of LU") from None
        return cls(vals.get("speech", BED_SPEECH_LU), vals.get("pause", BED_PAUSE_LU))


@dataclass(frozen=True)
class MixSettings:
    """The music against the voice: `bed` levels, the voice's own level (`voice_lufs`, None:
    as recorded) and the ducking's timing (`duck`: attack, release, hold, threshold)."""

    bed: BedLevels = field(default_factory=BedLevels)
    voice_lufs: float | None = None
    duck: DuckSettings = field(default_factory=DuckSettings)

    def __post_init__(self) -> None:
        v = self.voice_lufs
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not LOUDNESS_RANGE[0] <= v <= LOUDNESS_RANGE[1]):
            raise PodcastError(f"--voice-lufs {v!r} must be between {LOUDNESS_RANGE[0]:g} and {LOUDNESS_RANGE[1]:g} LUFS")


@dataclass
class VoiceAnalysis:
    """What one pass over the voice found: the speech gate and ducking amount per control step
    (1/CONTROL_HZ s), the BS.1770 block powers (as mixed) and the speech-gated loudness."""

    frames: int
    sample_rate: int
    gate: np.ndarray
    amount: np.ndarray
    powers: np.ndarray
    lufs: float  # speech-gated, before any voice gain
    integrated: float  # plain BS.1770 integrated loudness, for reference

    def speech_blocks(self, n: int) -> np.ndarray:
        """Per 400 ms block (n of them, one every 100 ms): mostly speech?"""
        return _block_share(self.gate.astype(np.float64), n) >= SPEECH_SHARE

    def ducked_blocks(self, n: int, value: float) -> np.ndarray:
        """Per block: is the ducking amount `value` (1: fully down, 0: fully up) throughout it?"""
        per = CONTROL_HZ // 10
        whole = np.arange(n) * per + 4 * per <= self.amount.shape[0]
        return whole & (_block_share((self.amount == value).astype(np.float64), n) >= 1.0 - 1e-12)


def _block_share(x: np.ndarray, n: int) -> np.ndarray:
    """Mean of control-rate `x` over each 400 ms block (block k = steps [10k, 10k + 40))."""
    per = CONTROL_HZ // 10
    c = np.concatenate([[0.0], np.cumsum(x)])
    k = np.arange(n)
    a = np.minimum(k * per, x.shape[0])
    b = np.minimum(k * per + 4 * per, x.shape[0])
    return (c[b] - c[a]) / np.maximum(b - a, 1)


def analyse_voice(read: Reader, frames: int, sample_rate: int, channels: int, mix_channels: int,
                  duck: DuckSettings) -> VoiceAnalysis:
    """One streamed pass over the voice (`read`, `channels`): the speech gate and the loudness of
    the voice mapped to `mix_channels` (mono to both sides counts twice, as heard)."""
    hop = sample_rate // CONTROL_HZ
    step = hop * 128
    energy = []
    meter = LoudnessMeter(sample_rate, mix_channels)
    mapped = mapped_reader(read, channels, mix_channels)
    for s in range(0, frames, step):
        e = min(frames, s + step)
        b = read(s, e)
        energy.append(hop_energy(b, sample_rate, start=s))
        meter.add(mapped(s, e) if channels != mix_channels else b)
    en = np.concatenate(energy) if energy else np.zeros(0)
    gate = gate_from_energy(en, frames, sample_rate, duck)
    amount = envelope(gate, duck)
    powers = meter.block_powers()
    a = VoiceAnalysis(frames, sample_rate, gate, amount, powers, SILENCE_LUFS, meter.integrated())
    speech = a.speech_blocks(powers.shape[0])
    a.lufs = gated_loudness(powers, speech) if speech.any() else a.integrated
    return a


@dataclass(frozen=True)
class BedGains:
    """The gains (dB) the mix applies: to the voice, and to the music in pauses and under speech;
    with the loudness measured to set them."""

    voice_db: float
    pause_db: float
    speech_db: float
    voice_lufs: float  # the voice's speech-gated loudness after its gain
    music_pause_lufs: float  # the music's own loudness where it will be up / down (before gain)
    music_speech_lufs: float

    @property
    def duck_db(self) -> float:
        return self.pause_db - self.speech_db


def bed_gains(music_powers: np.ndarray, voice: VoiceAnalysis, settings: MixSettings) -> BedGains:
    """The gains that put the music `settings.bed` LU under the voice (see the module docstring).
    `music_powers`: the raw music's BS.1770 block powers (`LoudnessMeter.block_powers`)."""
    if voice.lufs <= SILENCE_LUFS:
        raise PodcastError("the voice track is silent: no speech to set the music against")
    voice_db = 0.0 if settings.voice_lufs is None else settings.voice_lufs - voice.lufs
    v = voice.lufs + voice_db
    n = min(music_powers.shape[0], voice.powers.shape[0])
    p = music_powers[:n]
    overall = gated_loudness(p)
    if overall <= SILENCE_LUFS:
        return BedGains(voice_db, 0.0, -(settings.bed.speech - settings.bed.pause), v, overall, overall)
    l_speech = gated_loudness(p, voice.ducked_blocks(n, 1.0))
    l_pause = gated_loudness(p, voice.ducked_blocks(n, 0.0))
    l_speech = overall if l_speech <= SILENCE_LUFS else l_speech
    l_pause = overall if l_pause <= SILENCE_LUFS else l_pause
    return BedGains(voice_db, v - settings.bed.pause - l_pause, v - settings.bed.speech - l_speech, v, l_pause, l_speech)


def music_gain(voice: VoiceAnalysis, gains: BedGains, start: int, stop: int) -> np.ndarray:
    """The music's linear gain per frame for frames [start, stop): from `pause_db` to `speech_db`
    by the ducking amount, interpolated per sample (no steps)."""
    hop = voice.sample_rate // CONTROL_HZ
    a = voice.amount
    t = np.arange(start, stop)
    amt = np.interp(t, np.arange(a.shape[0]) * hop, a, right=0.0) if a.size else np.zeros(stop - start)
    return (10.0 ** ((gains.pause_db + (gains.speech_db - gains.pause_db) * amt) / 20.0)).astype(np.float32)


def mix_readers(music: Reader, music_channels: int, voice: Reader, voice_channels: int, analysis: VoiceAnalysis,
                gains: BedGains) -> tuple[Reader, Reader]:
    """(the mix, the music as it sits in the mix): readers over the same frames as `music`."""
    vmap = mapped_reader(voice, voice_channels, music_channels)
    gv = np.float32(db_to_gain(gains.voice_db))

    def bed(a: int, b: int) -> np.ndarray:
        return music(a, b) * music_gain(analysis, gains, a, b)[:, None]

    def mix(a: int, b: int) -> np.ndarray:
        return bed(a, b) + vmap(a, b) * gv

    return mix, bed
