"""Built-in synthesized voices (numpy): chiptune pulses, triangle bass, noise drums, saw pads and leads.

Each voice turns one note into a mono float64 signal that starts at the note's onset (sample 0
is the attack) and includes its release. Oscillators are band-limited: each pitch reads a
one-period wavetable built from its harmonics below 18 kHz only (additive, by inverse FFT), so
saws, pulses and triangles do not alias at all (a naive triangle's corners and a pulse's steps
fold back as a noise floor up to 20 kHz). Every drum hit starts with a short ramp (a hit at
full amplitude from silence is a step). Noise is drawn from a generator seeded by the caller,
so a voice is a pure function of its arguments.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
from scipy.signal import butter, sosfilt

from soundtrack.errors import GenerationError

SYNTHS: tuple[str, ...] = ("pulse", "triangle", "noise_drums", "saw_pad", "saw_lead", "sub_bass")


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def _phase(hz: float, n: int, sample_rate: int, phase0: float = 0.0) -> tuple[np.ndarray, float]:
    """Phase in [0, 1) per sample and the phase step (x - floor(x) is much cheaper than mod)."""
    dt = hz / sample_rate
    t = np.arange(n, dtype=np.float64)
    t *= dt
    t += phase0
    t -= np.floor(t)
    return t, dt


BAND_LIMIT_HZ = 18_000.0


@lru_cache(maxsize=1024)
def _table(shape: str, hz_key: int, sample_rate: int, width: float) -> np.ndarray:
    """One period of `shape` with harmonics under BAND_LIMIT_HZ only (hz_key: Hz x 8, rounded),
    sampled at enough points that linear interpolation is exact to ~-90 dB; one wrap point added."""
    hz = hz_key / 8.0
    limit = min(BAND_LIMIT_HZ, 0.45 * sample_rate)
    k_max = max(1, int(limit // hz))
    size = 1 << max(11, int(np.ceil(np.log2(16 * k_max))))
    size = min(size, 1 << 16)
    k_max = min(k_max, size // 4)
    k = np.arange(1, k_max + 1, dtype=np.float64)
    spec = np.zeros(size // 2 + 1, dtype=np.complex128)
    if shape == "saw":  # 2/pi * sum (-1)^(k+1) sin(k x)/k, rising ramp
        spec[1 : k_max + 1] = -1j * (2 / np.pi) * ((-1.0) ** (k + 1)) / k
    elif shape == "pulse":  # zero-mean pulse of duty `width`
        spec[1 : k_max + 1] = (4 / (np.pi * k)) * np.sin(np.pi * k * width) * np.exp(-1j * np.pi * k * width)
    elif shape == "triangle":  # odd harmonics, 1/k^2
        odd = (k % 2 == 1)
        spec[1 : k_max + 1] = np.where(odd, (8 / np.pi**2) / k**2 * ((-1.0) ** ((k - 1) // 2)), 0.0) * -1j
    else:
        raise GenerationError(f"wavetable shape={shape!r} must be saw, pulse or triangle")
    y = np.fft.irfft(spec, n=size) * size / 2
    table = np.concatenate([y, y[:1]])
    table.flags.writeable = False
    return table


@lru_cache(maxsize=1024)
def _steps(shape: str, hz_key: int, sample_rate: int, width: float) -> np.ndarray:
    """The table's step from each point to the next (``table[i + 1] - table[i]``, the same
    float64 values the interpolation would compute per sample), cached beside the table."""
    table = _table(shape, hz_key, sample_rate, width)
    d = table[1:] - table[:-1]
    d.flags.writeable = False
    return d


def _read(shape: str, hz: float, n: int, sample_rate: int, *, phase0: float = 0.0, width: float = 0.5) -> np.ndarray:
    key = (shape, int(round(hz * 8)), sample_rate, round(width, 3))
    table, steps = _table(*key), _steps(*key)
    size = table.shape[0] - 1
    t, _ = _phase(hz, n, sample_rate, phase0)
    t *= size
    i = t.astype(np.int64)
    t -= i  # the fraction
    t *= steps[i]
    t += table[i]
    return t


def saw(hz: float, n: int, sample_rate: int, *, phase0: float = 0.0) -> np.ndarray:
    """A band-limited sawtooth in about [-1, 1], `n` samples (no partial above 18 kHz)."""
    return _read("saw", hz, n, sample_rate, phase0=phase0)


def pulse(hz: float, n: int, sample_rate: int, *, width: float = 0.5) -> np.ndarray:
    """A band-limited pulse wave of duty cycle `width`, zero mean (no partial above 18 kHz)."""
    return _read("pulse", hz, n, sample_rate, width=width)


def triangle(hz: float, n: int, sample_rate: int) -> np.ndarray:
    """A band-limited triangle wave in about [-1, 1] (no partial above 18 kHz)."""
    return _read("triangle", hz, n, sample_rate)


def envelope(n_on: int, *, sample_rate: int, attack: float, decay: float, sustain: float, release: float) -> np.ndarray:
    """An ADSR envelope: `n_on` samples held (attack/decay/sustain), then a release to zero.

    Attack is a sin^2 rise, decay and release exponential-looking (quadratic) curves; the release
    starts from the level reached when the note is let go, so a short note never clicks.
    """
    a = max(1, int(attack * sample_rate))
    d = max(1, int(decay * sample_rate))
    r = max(1, int(release * sample_rate))
    held = np.empty(max(n_on, 1))
    t = np.arange(held.size, dtype=np.float64)
    held[:] = sustain
    att = t < a
    held[att] = np.sin(0.5 * np.pi * t[att] / a) ** 2  # a smooth start: no corner where it begins or ends
    dec = (t >= a) & (t < a + d)
    x = (t[dec] - a) / d
    held[dec] = sustain + (1.0 - sustain) * (1.0 - x) ** 2
    level = held[-1]
    x = np.arange(r, dtype=np.float64) / r
    rel = level * (1.0 - x) ** 2
    return np.concatenate([held[:n_on], rel])


@lru_cache(maxsize=512)
def _sos(kind: str, hz: float, sample_rate: int) -> np.ndarray:
    """A 2nd-order Butterworth low/high-pass (designs are cached: notes repeat their pitches)."""
    return butter(2, hz, btype=kind, fs=sample_rate, output="sos")


def _lowpass(x: np.ndarray, hz: float, sample_rate: int) -> np.ndarray:
    return sosfilt(_sos("low", min(hz, 0.45 * sample_rate), sample_rate), x)


@dataclass(frozen=True)
class NoteEvent:
    """One note for a voice, in frames: `length` is the held part; the voice adds its release."""

    pitch: int
    velocity: int
    length: int


def _vel(velocity: int) -> float:
    return (max(1, min(127, velocity)) / 127.0) ** 1.5


def _pulse_note(ev: NoteEvent, sr: int, rng: np.random.Generator) -> np.ndarray:
    env = envelope(ev.length, sample_rate=sr, attack=0.005, decay=0.12, sustain=0.55, release=0.05)
    return 0.35 * _vel(ev.velocity) * env * pulse(midi_hz(ev.pitch), env.size, sr, width=0.25)


def _triangle_note(ev: NoteEvent, sr: int, rng: np.random.Generator) -> np.ndarray:
    env = envelope(ev.length, sample_rate=sr, attack=0.004, decay=0.05, sustain=0.9, release=0.04)
    return 0.6 * _vel(ev.velocity) * env * triangle(midi_hz(ev.pitch), env.size, sr)


def _sub_bass_note(ev: NoteEvent, sr: int, rng: np.random.Generator) -> np.ndarray:
    env = envelope(ev.length, sample_rate=sr, attack=0.005, decay=0.2, sustain=0.8, release=0.08)
    hz = midi_hz(ev.pitch)
    n = env.size
    t = np.arange(n, dtype=np.float64) / sr
    # sine plus a little saturated second harmonic so it speaks on small speakers
    y = np.sin(2 * np.pi * hz * t)
    y = np.tanh(1.6 * y) / np.tanh(1.6) + 0.15 * np.sin(4 * np.pi * hz * t)
    return 0.55 * _vel(ev.velocity) * env * y


def _saw_pad_note(ev: NoteEvent, sr: int, rng: np.random.Generator) -> np.ndarray:
    env = envelope(ev.length, sample_rate=sr, attack=0.35, decay=0.5, sustain=0.8, release=0.6)
    hz = midi_hz(ev.pitch)
    n = env.size
    # three detuned saws (fixed detune, seeded start phases) through a gentle low-pass
    y = np.zeros(n)
    for c, p in zip((-9.0, 0.0, 7.0), rng.random(3)):
        y = y + saw(hz * 2.0 ** (c / 1200.0), n, sr, phase0=float(p))
    y = _lowpass(y, min(2400.0, hz * 6.0), sr)
    return 0.12 * _vel(ev.velocity) * env * y


def _saw_lead_note(ev: NoteEvent, sr: int, rng: np.random.Generator) -> np.ndarray:
    env = envelope(ev.length, sample_rate=sr, attack=0.008, decay=0.15, sustain=0.7, release=0.12)
    hz = midi_hz(ev.pitch)
    n = env.size
    y = 0.6 * saw(hz, n, sr) + 0.4 * saw(hz * 2.0 ** (6.0 / 1200.0), n, sr, phase0=float(rng.random()))
    y = _lowpass(y, min(5000.0, hz * 8.0), sr)
    return 0.25 * _vel(ev.velocity) * env * y


# -- noise drums (GM percussion keys) -----------------------------------------------------------
_KICKS = {35, 36}
_SNARES = {37, 38, 39, 40}
_CLOSED_HATS = {42, 44}
_OPEN_HATS = {46}
_CYMBALS = {49, 51, 52, 53, 55, 57, 59}
_TOMS = {41: 80.0, 43: 100.0, 45: 120.0, 47: 145.0, 48: 170.0, 50: 200.0}


def _decay(n: int, seconds: float, sr: int) -> np.ndarray:
    return np.exp(-np.arange(n, dtype=np.float64) / (seconds * sr))


def _highpass(x: np.ndarray, hz: float, sr: int) -> np.ndarray:
    return sosfilt(_sos("high", hz, sr), x)


KICK_LOW_HZ = 41.2  # E1: a tuned chip kick settles on the tonic in [E1, E2)
SNARE_LOW_HZ = 155.6  # D#3: a tuned snare's body rings on the tonic in [D#3, D#4)
UNTUNED_KIT = (48.0, 190.0)  # (kick, snare) Hz without a key


def kit_pitches(tonic: int | None) -> tuple[float, float]:
    """(kick settling frequency, snare body frequency) in Hz: the tonic's pitch in each range,
    or the untuned 48 / 190 Hz without a key. Chip musicians tune the kit: an untuned one rings
    near G on every beat, and a key finder (like a listener) hears G (the chiptune prompts in A
    minor were heard in E minor and G major)."""
    if tonic is None:
        return UNTUNED_KIT

    def in_range(low: float) -> float:
        f = midi_hz(60 + tonic)  # the tonic in the octave from middle C
        while f >= 2 * low:
            f /= 2
        while f < low:
            f *= 2
        return f

    return in_range(KICK_LOW_HZ), in_range(SNARE_LOW_HZ)


def _drum_note(ev: NoteEvent, sr: int, rng: np.random.Generator, kit: tuple[float, float] = UNTUNED_KIT) -> np.ndarray:
    y = _drum_hit(ev, sr, rng, kit)
    # every hit starts with a short ramp (noise at full level from silence is a step) and ends
    # with a short fade, so a cut decay never clicks
    a = min(y.size, int(0.0007 * sr))
    y[:a] *= np.sin(np.linspace(0.0, np.pi / 2, a, endpoint=False)) ** 2
    m = min(y.size, int(0.02 * sr))
    y[-m:] *= np.linspace(1.0, 0.0, m)
    return y


def _drum_hit(ev: NoteEvent, sr: int, rng: np.random.Generator, kit: tuple[float, float]) -> np.ndarray:
    v = _vel(ev.velocity)
    k = ev.pitch
    kick_hz, snare_hz = kit
    if k in _KICKS:
        n = int(0.35 * sr)
        t = np.arange(n, dtype=np.float64) / sr
        # pitch sweeps down by 102 Hz to the kit's kick pitch (the phase is the integral of the
        # frequency), over a 5 ms noise click: the chip kick's attack, which a listener (and a
        # beat tracker) hears as loudly as the snare's, so the beat is not heard at half speed
        f = kick_hz + 102.0 * np.exp(-t / 0.03)
        ph = 2 * np.pi * np.cumsum(f) / sr
        y = np.sin(ph) * _decay(n, 0.12, sr)
        click = _highpass(rng.standard_normal(n), 1500.0, sr) * _decay(n, 0.005, sr)
        return 0.9 * v * (y + 0.45 * click)
    if k in _SNARES:
        n = int(0.25 * sr)
        t = np.arange(n, dtype=np.float64) / sr
        tone = np.sin(2 * np.pi * snare_hz * t) * _decay(n, 0.05, sr)
        noise = _highpass(rng.standard_normal(n), 1200.0, sr) * _decay(n, 0.07, sr)
        return v * (0.35 * tone + 0.3 * noise)
    if k in _CLOSED_HATS or k in _OPEN_HATS:
        n = int((0.35 if k in _OPEN_HATS else 0.06) * sr)
        noise = _highpass(rng.standard_normal(n), 7000.0, sr)
        return 0.22 * v * noise * _decay(n, 0.12 if k in _OPEN_HATS else 0.018, sr)
    if k in _CYMBALS:
        n = int(2.4 * sr)
        noise = _highpass(rng.standard_normal(n), 4000.0, sr)
        return 0.18 * v * noise * _decay(n, 0.4, sr)
    hz = _TOMS.get(k, 120.0)
    n = int(0.3 * sr)
    t = np.arange(n, dtype=np.float64) / sr
    f = hz * (1.0 + 0.4 * np.exp(-t / 0.02))
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) * _decay(n, 0.1, sr)
    return 0.6 * v * y


_VOICES = {
    "pulse": _pulse_note,
    "triangle": _triangle_note,
    "noise_drums": _drum_note,
    "saw_pad": _saw_pad_note,
    "saw_lead": _saw_lead_note,
    "sub_bass": _sub_bass_note,
}


def render_notes(
    voice: str, notes: list[tuple[int, NoteEvent]], *, sample_rate: int, seed: int, frames: int | None = None,
    tonic: int | None = None,
) -> np.ndarray:
    """Render `(onset_frame, NoteEvent)` pairs with a built-in `voice` into a mono float64 signal.

    The output is long enough for every note's release (at least `frames` samples). Onsets must
    be >= 0. The same arguments give the same samples, bit for bit. `tonic` (a pitch class)
    tunes the noise drums' kick and snare to the key (`kit_pitches`).
    """
    try:
        fn = _VOICES[voice]
    except KeyError:
        raise GenerationError(f"synth={voice!r} is unknown; built-in voices are {', '.join(SYNTHS)}") from None
    if fn is _drum_note:  # the kit's pitches, once for the whole part
        fn = partial(_drum_note, kit=kit_pitches(tonic))
    rendered = []
    end = frames or 0
    for i, (onset, ev) in enumerate(notes):
        if onset < 0:
            raise GenerationError(f"synth note at frame {onset} starts before the audio")
        rng = np.random.default_rng([seed, i, ev.pitch])
        y = fn(ev, sample_rate, rng)
        rendered.append((onset, y))
        end = max(end, onset + y.size)
    out = np.zeros(end, dtype=np.float64)
    for onset, y in rendered:
        out[onset : onset + y.size] += y
    return out
