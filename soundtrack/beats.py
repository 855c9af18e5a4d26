"""Beat and downbeat tracking in numpy/scipy: where the beats of a piece of audio are, in frames.

The pipeline (Ellis 2007, "Beat tracking by dynamic programming", with a refinement step):

1. `onset_envelope`: log-magnitude spectral flux every `hop` frames (about 5 ms), once over all
   frequencies and once below 150 Hz (the kick drum, which marks downbeats in most music).
2. `estimate_tempo`: autocorrelation of the envelope over plausible beat periods, weighted by a
   log-normal prior around a hint (the requested or declared tempo), with sub-frame peak
   interpolation.
3. `track_beats`: dynamic programming for the beat sequence that best balances onset strength
   against deviation from the tempo, so a tempo that wobbles by several percent is followed beat
   by beat; weak beats at either end (silence, a reverb tail) are trimmed.
4. `refine_beats`: each beat is moved to the steepest rise of a 1 ms log-energy envelope within
   a few ms, so beat times are accurate to well under a millisecond on clear attacks (the coarse
   envelope is only 5 ms).
5. `downbeat_phase`: the bar phase whose beats carry the most low-frequency accent.

`detect_beats` runs all of it. Frames are integer sample frames of the input audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundtrack.errors import AudioError

ENVELOPE_RATE = 200  # onset-envelope frames per second (5 ms)
# The tempo range the *detector* searches, narrower than the engine's (timing.MIN_BPM..MAX_BPM,
# 20-300): beat tracking below 40 or above 240 bpm mostly finds half or double the tempo.
DETECT_MIN_BPM = 40.0
DETECT_MAX_BPM = 240.0
LOW_BAND_HZ = 150.0


@dataclass(frozen=True)
class BeatTrack:
    """Beats found in a piece of audio.

    `beats`: int64 sample frames, ascending. `downbeat`: index into `beats` of the first beat
    that starts a bar (0 <= downbeat < beats_per_bar). `bpm`: the mean tempo over the tracked
    beats (a float: measured, not a grid value). `strength`: per-beat onset strength (envelope
    units, 1 = one standard deviation), useful to tell music from a decaying tail.
    """

    beats: np.ndarray
    downbeat: int
    beats_per_bar: int
    bpm: float
    strength: np.ndarray

    @property
    def downbeats(self) -> np.ndarray:
        """Sample frames of every tracked bar start."""
        return self.beats[self.downbeat :: self.beats_per_bar]


def _mono(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float64)
    if a.ndim == 2:
        a = a.mean(axis=1)
    if a.ndim != 1:
        raise AudioError(f"audio must be (frames,) or (frames, channels), got shape {np.shape(audio)}")
    return a


def onset_envelope(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Spectral-flux onset strength of `audio` (frames[, channels]).

    Returns ``(env, low, hop)``: `env` and `low` (flux below 150 Hz) are float64 arrays with one
    value per `hop` input frames; value i describes the onset at about frame ``i * hop``. Both
    are normalised to unit standard deviation after removing a 0.5 s moving average.
    """
    x = _mono(audio)
    hop = max(1, int(round(sample_rate / ENVELOPE_RATE)))
    n_fft = 1 << int(np.ceil(np.log2(sample_rate * 0.02)))  # ~20-40 ms windows
    # Log compression makes the flux jump as soon as an attack enters the window's leading
    # quarter: the window of value i ends a quarter window after frame i * hop (measured).
    pad = n_fft - n_fft // 4
    xp = np.concatenate([np.zeros(pad), x, np.zeros(n_fft + hop)])
    n_frames = 1 + x.shape[0] // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    win = np.hanning(n_fft)
    spec = np.abs(np.fft.rfft(xp[idx] * win, axis=1))
    logs = np.log1p(1000.0 * spec)
    flux = np.maximum(0.0, np.diff(logs, axis=0, prepend=logs[:1]))
    low_bins = max(1, int(LOW_BAND_HZ * n_fft / sample_rate))
    env = flux.sum(axis=1)
    low = flux[:, 1 : low_bins + 1].sum(axis=1)
    return _normalise(env, hop, sample_rate), _normalise(low, hop, sample_rate), hop


def _normalise(e: np.ndarray, hop: int, sample_rate: int) -> np.ndarray:
    from scipy.ndimage import uniform_filter1d

    width = max(3, int(0.5 * sample_rate / hop))
    e = np.maximum(0.0, e - uniform_filter1d(e, width, mode="nearest"))
    sd = e.std()
    return e / sd if sd > 0 else e


def estimate_tempo(
    env: np.ndarray,
    frame_rate: float,
    *,
    prior_bpm: float = 120.0,
    prior_octaves: float = 1.0,
    min_bpm: float = DETECT_MIN_BPM,
    max_bpm: float = DETECT_MAX_BPM,
) -> float:
    """The dominant tempo of an onset envelope, in bpm.

    Autocorrelation over beat periods from `max_bpm` to `min_bpm`, weighted by a log-normal
    prior centred on `prior_bpm` with a standard deviation of `prior_octaves` octaves (a small
    value holds the answer near a declared tempo; a large one lets the audio decide).
    """
    n = env.shape[0]
    if n < 8:
        return float(prior_bpm)
    spec = np.fft.rfft(env - env.mean(), 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[:n]
    lo = max(1, int(np.floor(60.0 * frame_rate / max_bpm)))
    hi = min(n - 2, int(np.ceil(60.0 * frame_rate / min_bpm)))
    if hi <= lo + 1:
        return float(prior_bpm)
    lags = np.arange(lo, hi + 1)
    bpms = 60.0 * frame_rate / lags
    weight = np.exp(-0.5 * (np.log2(bpms / prior_bpm) / prior_octaves) ** 2)
    score = np.maximum(ac[lags], 0.0) * weight
    i = int(np.argmax(score))
    lag = float(lags[i])
    if 0 < i < len(lags) - 1:  # parabolic interpolation of the peak
        a, b, c = score[i - 1], score[i], score[i + 1]
        den = a - 2 * b + c
        if den < 0:
            lag += 0.5 * (a - c) / den
    return 60.0 * frame_rate / lag


def track_beats(env: np.ndarray, frame_rate: float, bpm: float, *, tightness: float = 100.0) -> np.ndarray:
    """Envelope indices of the beats (Ellis's dynamic programme), weak end beats trimmed.

    Each beat's predecessor lies between half and twice the period before it; a deviation from
    the period costs ``tightness * log(interval / period) ** 2``, so small drifts are followed.
    """
    n = env.shape[0]
    period = 60.0 * frame_rate / bpm
    if n < 2 * period or not np.any(env > 0):
        return np.zeros(0, dtype=np.int64)
    # smooth by a Gaussian of width period/32, as Ellis does, to tolerate small jitter
    k = np.arange(-int(period), int(period) + 1)
    g = np.exp(-0.5 * (k * 32.0 / period) ** 2)
    local = np.convolve(env, g / g.sum(), mode="same")
    local = local / (local.std() or 1.0)
    cum = np.zeros(n)
    back = -np.ones(n, dtype=np.int64)
    w_lo, w_hi = int(round(period / 2)), int(round(2 * period))
    offsets = np.arange(w_lo, w_hi + 1)
    penalty = -tightness * np.log(offsets / period) ** 2
    for t in range(n):
        prev = t - offsets
        ok = prev >= 0
        if not ok.any():
            cum[t] = local[t]
            continue
        cand = cum[prev[ok]] + penalty[ok]
        j = int(np.argmax(cand))
        if cand[j] > 0:
            cum[t] = local[t] + cand[j]
            back[t] = prev[ok][j]
        else:
            cum[t] = local[t]
    # the last beat: the best cumulative score within the final period that is a local peak
    tail = np.arange(max(0, n - int(np.ceil(period)) - 1), n)
    last = int(tail[np.argmax(cum[tail])])
    path = [last]
    while back[path[-1]] >= 0:
        path.append(int(back[path[-1]]))
    beats = np.array(path[::-1], dtype=np.int64)
    # trim weak beats at both ends (silence before the music, a decaying tail after it)
    s = local[beats]
    thresh = 0.5 * np.sqrt(np.mean(s**2))
    strong = np.flatnonzero(s >= thresh)
    if strong.size:
        beats = beats[strong[0] : strong[-1] + 1]
    return beats


def refine_beats(audio: np.ndarray, sample_rate: int, beats: np.ndarray, *, radius: int) -> np.ndarray:
    """Move each beat (sample frames) to the steepest rise of a 1 ms log-energy envelope.

    Searches ``beat ± radius`` frames; a beat with no clear attack there (a rise under 3 dB)
    keeps its position. Returns int64 frames, ascending.
    """
    return np.maximum.accumulate(find_attacks(audio, sample_rate, beats, radius=radius)[0])


def find_attacks(audio: np.ndarray, sample_rate: int, near: np.ndarray, *, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """The attack nearest each of `near` (sample frames) within `radius`: ``(frames, found)``.

    `found` is a bool array: False where no rise of 3 dB or more exists in the window (that
    entry of `frames` is then the input position).
    """
    x = _mono(audio)
    # first difference: emphasises attacks over sustained low notes
    d = np.diff(x, prepend=x[:1])
    h = max(1, sample_rate // 4000)  # 0.25 ms steps
    win = max(2, sample_rate // 1000)  # 1 ms windows
    c = np.concatenate([[0.0], np.cumsum(d * d)])
    starts = np.arange(0, max(1, x.shape[0] - win), h)
    e = (c[np.minimum(starts + win, x.shape[0])] - c[starts]) / win
    lag = max(1, int(round(2 * win / h)))  # compare against the level 2 ms earlier
    out = np.asarray(near, dtype=np.int64).copy()
    found = np.zeros(out.shape[0], dtype=bool)
    for i, b in enumerate(out):
        j0 = max(lag, int((b - radius) // h))
        j1 = min(e.shape[0], int((b + radius) // h) + 1)
        if j1 <= j0:
            continue
        # a floor 30 dB under the loudest moment nearby, so pre-echo and noise in near
        # silence do not count as attacks
        local = e[j0 - lag : j1]
        loge = 10.0 * np.log10(local + 1e-3 * local.max() + 1e-20)
        rise = loge[lag:] - loge[:-lag]
        j = int(np.argmax(rise))
        if rise[j] >= 3.0:
            # the 1 ms window at (j0 + j) * h has risen: the attack starts near its beginning
            out[i] = (j0 + j) * h + win // 4
            found[i] = True
    return out, found


def trailing_beats(audio: np.ndarray, sample_rate: int, beats: np.ndarray) -> np.ndarray:
    """`beats` and those a tracker left off at the end (it often drops the last one or two of a
    short piece), each found as an attack within an eighth of a beat of one beat period after
    the one before. Only the audio around each guess is searched."""
    out = [int(b) for b in beats]
    if len(out) < 4:
        return np.asarray(beats, dtype=np.int64)
    n = audio.shape[0]
    h = max(1, sample_rate // 4000)  # find_attacks' step: a window starting on it sees the same grid
    margin = sample_rate // 100  # its 1 ms windows and 2 ms look-back, with room to spare
    while True:
        period = int(np.median(np.diff(out[-4:])))
        guess, radius = out[-1] + period, period // 8
        if period <= 0 or guess + radius >= n:
            break
        lo = max(0, guess - radius - margin) // h * h
        got, found = find_attacks(audio[lo:], sample_rate, np.array([guess - lo], dtype=np.int64), radius=radius)
        if not found[0]:
            break
        out.append(int(got[0]) + lo)
    return np.asarray(out, dtype=np.int64)


def _z(a: np.ndarray) -> np.ndarray:
    sd = float(a.std())
    return (a - a.mean()) / sd if sd > 0 else np.zeros_like(a, dtype=np.float64)


def harmonic_change(audio: np.ndarray, sample_rate: int, beats: np.ndarray) -> np.ndarray:
    """Per beat: 1 - cosine similarity of the pitch-class profile (55 Hz - 2 kHz) of the beat
    starting there with that of the beat before it (0 for the first beat)."""
    x = _mono(audio)
    edges = np.append(beats, min(x.shape[0], int(beats[-1] + np.median(np.diff(beats)))))
    profiles = []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = x[int(a) : max(int(a) + 16, int(b))]
        if seg.shape[0] < 16:
            profiles.append(np.zeros(12))
            continue
        spec = np.abs(np.fft.rfft(seg * np.hanning(seg.shape[0])))
        f = np.fft.rfftfreq(seg.shape[0], 1.0 / sample_rate)
        band = (f >= 55.0) & (f <= 2000.0)
        pc = np.mod(np.round(12 * np.log2(f[band] / 440.0)).astype(int) + 9, 12)
        profiles.append(np.bincount(pc, weights=spec[band] ** 2, minlength=12).astype(np.float64))
    p = np.array(profiles)
    p /= np.linalg.norm(p, axis=1, keepdims=True) + 1e-12
    change = np.zeros(p.shape[0])
    change[1:] = 1.0 - np.sum(p[1:] * p[:-1], axis=1)
    return change


def downbeat_phase(accent: np.ndarray, beats_per_bar: int) -> int:
    """The bar phase (0 <= p < beats_per_bar) whose beats have the highest mean accent."""
    if beats_per_bar <= 1 or accent.shape[0] == 0:
        return 0
    scores = [accent[p::beats_per_bar].mean() if accent[p::beats_per_bar].size else -np.inf for p in range(beats_per_bar)]
    return int(np.argmax(scores))


def detect_beats(
    audio: np.ndarray,
    sample_rate: int,
    *,
    beats_per_bar: int,
    tempo_hint: float | None = None,
    hint_octaves: float = 0.5,
    first_downbeat: int | None = None,
) -> BeatTrack:
    """Beats and downbeats of `audio` (frames[, channels]) at `sample_rate`.

    `tempo_hint` (bpm) centres the tempo prior, `hint_octaves` sets its width (0.1 holds a
    declared tempo; 0.5 lets a model's drift through). `first_downbeat` (a sample frame) makes
    the beat nearest to it bar 1 beat 1 instead of the detected bar phase.
    """
    env, low, hop = onset_envelope(audio, sample_rate)
    frame_rate = sample_rate / hop
    bpm0 = estimate_tempo(
        env, frame_rate, prior_bpm=float(tempo_hint or 120.0), prior_octaves=hint_octaves if tempo_hint else 1.0
    )
    idx = track_beats(env, frame_rate, bpm0)
    if idx.size < 2:
        raise AudioError(
            f"found no steady beat in {_mono(audio).shape[0] / sample_rate:.2f} s of audio; "
            "declare its tempo and first downbeat, or give audio with audible beats"
        )
    coarse = idx * hop
    beats = refine_beats(audio, sample_rate, coarse, radius=5 * hop)
    strength = env[idx]
    # accent: low-frequency onset (kick), overall onset strength, and harmonic change (chords
    # change on bar lines far more often than between them), each standardised
    lo_acc = np.array([low[max(0, i - 2) : i + 3].max() for i in idx])
    accent = _z(lo_acc) + _z(strength) + _z(harmonic_change(audio, sample_rate, beats))
    if first_downbeat is not None:
        first = int(np.argmin(np.abs(beats - int(first_downbeat))))
        phase = first % beats_per_bar
    else:
        phase = downbeat_phase(accent, beats_per_bar)
    bpm = 60.0 * sample_rate / float(np.mean(np.diff(beats)))
    return BeatTrack(beats=beats, downbeat=phase, beats_per_bar=beats_per_bar, bpm=bpm, strength=strength)
