"""Voice tracks in: any common format decoded to its true length, at the music's rate, measured.

`probe_voice` reads only the header (rate, channels, exact length, codec), so a bad file is
refused in one line before any work. `open_voice` decodes to a scratch file at the music's rate
(`VoiceTrack`, read at random in blocks); `read_voice` gives the same samples as an array.

Exact lengths, whatever the encoder added:

- WAV, FLAC, OGG (Vorbis and Opus), MP3: libsndfile via soundfile, which trims the encoder delay
  and padding (MP3: the LAME/Xing header; Vorbis/Opus: granule positions and pre-skip).
- M4A/MP4 (AAC, ALAC): ffmpeg decodes, skipping the priming the edit list names; the true length
  is read from the file itself (the sample table's total less the edit's start skip, or the edit
  list's duration when it is exact) and the decoder's end padding is cut off. ffmpeg 5.1 keeps
  that padding: an ffmpeg-made 3 s M4A decodes 811 frames long.
- Anything else ffmpeg reads (raw AAC, WMA, ...): as ffmpeg decodes it (raw AAC has no length
  field, so its encoder padding cannot be known: use M4A).

Any rate (resampled with `stream.resampled_reader`, exact length round(n x rate / source rate))
and any channel count (more than two are averaged to mono).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundtrack.errors import PodcastError
from soundtrack.podcast.mp4gapless import _boxes, _child
from soundtrack.podcast.stream import BLOCK, Scratch, mapped_reader, resampled_frames, resampled_reader

MP4_SUFFIXES = (".m4a", ".mp4", ".m4b", ".mov", ".3gp")
MAX_VOICE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class VoiceInfo:
    """A voice file's header: `frames` at `sample_rate` (its true length), `channels`, `codec`,
    and `reader`: soundfile or ffmpeg."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    codec: str
    reader: str

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][-200:] if lines else "no message"


def mp4_length(path: Path) -> int | None:
    """The true sample count of the first audio track of an MP4 (None if the boxes are not as
    expected): the edit list's duration when the movie timescale expresses it exactly, else the
    sample table's total less the edit's start skip."""
    try:
        b = path.read_bytes() if path.stat().st_size < (512 << 20) else None
        if b is None:
            return None
        moov = _child(b, 0, len(b), b"moov")
        mvhd = _child(b, *moov, b"mvhd") if moov else None
        if moov is None or mvhd is None:
            return None
        movie_scale = struct.unpack_from(">I", b, mvhd[0] + (12 if b[mvhd[0]] == 0 else 20))[0]
        for t, s, e in _boxes(b, *moov):
            if t != b"trak":
                continue
            mdia = _child(b, s, e, b"mdia")
            hdlr = _child(b, *mdia, b"hdlr") if mdia else None
            if mdia is None or hdlr is None or b[hdlr[0] + 8 : hdlr[0] + 12] != b"soun":
                continue
            mdhd = _child(b, *mdia, b"mdhd")
            minf = _child(b, *mdia, b"minf")
            stbl = _child(b, *minf, b"stbl") if minf else None
            stts = _child(b, *stbl, b"stts") if stbl else None
            if mdhd is None or stts is None:
                return None
            media_scale = struct.unpack_from(">I", b, mdhd[0] + (12 if b[mdhd[0]] == 0 else 20))[0]
            count = struct.unpack_from(">I", b, stts[0] + 4)[0]
            total = sum(c * d for c, d in (struct.unpack_from(">II", b, stts[0] + 8 + 8 * i) for i in range(count)))
            skip, dur = 0, None
            edts = _child(b, s, e, b"edts")
            elst = _child(b, *edts, b"elst") if edts else None
            if elst is not None:
                version, n = b[elst[0]], struct.unpack_from(">I", b, elst[0] + 4)[0]
                fmt = ">Ii" if version == 0 else ">Qq"
                size = struct.calcsize(fmt)
                entries = [struct.unpack_from(fmt, b, elst[0] + 8 + size * i) for i in range(n)]
                media = [(d, m) for d, m in entries if m >= 0]
                if len(media) == 1:
                    d, skip = media[0]
                    if (d * media_scale) % movie_scale == 0:
                        dur = d * media_scale // movie_scale
            n_samples = total - skip
            if dur is not None and abs(dur - n_samples) <= max(1, media_scale // movie_scale):
                n_samples = min(n_samples, dur)
            elif dur is not None and dur < n_samples:
                n_samples = dur
            return max(0, n_samples)
    except (OSError, struct.error, Exception):  # a malformed box: fall back to the decoder's length
        return None
    return None


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence what C libraries print on file descriptor 2 (mpg123's "Note: Illegal Audio-MPEG-Header"
    when libsndfile tries a file that is not MP3): our errors are one line."""
    import sys

    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (captured): nothing to silence
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def probe_voice(path: str | Path) -> VoiceInfo:
    """The voice file's rate, channels and true length, from its header; one-line errors."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise PodcastError(f"--voice {p}: no such file")
    if p.stat().st_size == 0:
        raise PodcastError(f"--voice {p}: the file is empty")
    if p.suffix.lower() not in MP4_SUFFIXES:
        try:
            with quiet_stderr():
                info = sf.info(str(p))
            if info.frames > 0 and info.samplerate > 0:
                return _checked(VoiceInfo(p, int(info.samplerate), int(info.channels), int(info.frames),
                                          info.subtype or info.format, "soundfile"))
        except (sf.LibsndfileError, RuntimeError, TypeError):
            pass
    if shutil.which("ffprobe") is None:
        raise PodcastError(f"--voice {p}: not a WAV/FLAC/OGG/MP3 file soundfile reads, and ffprobe (ffmpeg) is not "
                           "installed to read it (apt-get install ffmpeg)")
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                        "stream=codec_name,sample_rate,channels,duration_ts,time_base", "-of", "json", str(p)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise PodcastError(f"--voice {p}: cannot read audio: not a file ffmpeg decodes ({_last_line(r.stderr)})")
    streams = json.loads(r.stdout or "{}").get("streams") or []
    if not streams:
        raise PodcastError(f"--voice {p}: no audio stream in the file")
    st = streams[0]
    try:
        sr, ch = int(st["sample_rate"]), int(st["channels"])
    except (KeyError, ValueError):
        raise PodcastError(f"--voice {p}: the audio stream has no sample rate or channel count") from None
    n = mp4_length(p) if p.suffix.lower() in MP4_SUFFIXES else None
    if n is None:
        n = -1  # known once decoded
    return _checked(VoiceInfo(p, sr, ch, n, str(st.get("codec_name", "?")), "ffmpeg"))


def _checked(v: VoiceInfo) -> VoiceInfo:
    if v.frames > MAX_VOICE_SECONDS * v.sample_rate:
        raise PodcastError(f"--voice {v.path}: {v.seconds:.0f} s long; the maximum is {MAX_VOICE_SECONDS} s (24 h)")
    if not 1 <= v.channels <= 64:
        raise PodcastError(f"--voice {v.path}: {v.channels} channels")
    return v


class VoiceTrack:
    """A decoded voice at the music's rate in a scratch file: `read(start, stop)`, `frames`,
    `channels` (1 or 2), `info` (the source)."""

    def __init__(self, scratch: Scratch, info: VoiceInfo) -> None:
        self.scratch = scratch
        self.info = info
        self.frames = scratch.frames
        self.channels = scratch.channels
        self.sample_rate = scratch.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.scratch.read(start, stop)


def _decoded_blocks(info: VoiceInfo, channels: int):
    """Float32 (n, channels) blocks of the whole file at its own rate, to its true length."""
    if info.reader == "soundfile":
        import soundfile as sf

        with quiet_stderr():
            f = sf.SoundFile(str(info.path))
        with f:
            for b in f.blocks(BLOCK, dtype="float32", always_2d=True):
                yield _fold(b, channels)
        return
    from soundtrack.podcast.encode import ffmpeg_exe

    ac = ["-ac", str(channels)]
    proc = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(info.path), "-map", "0:a:0",
                             "-f", "f32le", *ac, "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    left = info.frames if info.frames >= 0 else None
    try:
        assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
        rest = b""
        while True:
            chunk = proc.stdout.read(BLOCK * channels * 4)
            if not chunk:
                break
            chunk = rest + chunk
            k = len(chunk) // (4 * channels) * 4 * channels
            rest = chunk[k:]
            b = np.frombuffer(chunk[:k], "<f4").reshape(-1, channels)
            if left is not None:
                b = b[:left]
                left -= b.shape[0]
            if b.shape[0]:
                yield b
        err = proc.stderr.read().decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if proc.returncode != 0:
        raise PodcastError(f"--voice {info.path}: cannot decode: {_last_line(err)}")
    if left:
        raise PodcastError(f"--voice {info.path}: decoded {info.frames - left} frames, the file says {info.frames}")


def _fold(b: np.ndarray, channels: int) -> np.ndarray:
    if b.shape[1] == channels:
        return b
    return b.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32) if channels == 1 else b[:, :channels]


def voice_channels(info: VoiceInfo) -> int:
    """Mono and stereo are kept; more channels are averaged to mono."""
    return info.channels if info.channels <= 2 else 1


def open_voice(path: str | Path, sample_rate: int, scratch_dir: Path, *, info: VoiceInfo | None = None) -> VoiceTrack:
    """Decode `path` to its true length and resample it to `sample_rate`, into scratch files in
    `scratch_dir` (memory stays flat however long the voice is)."""
    info = info or probe_voice(path)
    ch = voice_channels(info)
    native = Scratch(scratch_dir / "voice-native.wav", info.sample_rate, ch, measure=False)
    try:
        for b in _decoded_blocks(info, ch):
            native.write(b)
    finally:
        native.close()
    if native.frames == 0:
        raise PodcastError(f"--voice {info.path}: no audio in the file")
    info = VoiceInfo(info.path, info.sample_rate, info.channels, native.frames, info.codec, info.reader)
    if info.sample_rate == sample_rate:
        return VoiceTrack(native, info)
    read, n = resampled_reader(native.read, native.frames, info.sample_rate, sample_rate)
    out = Scratch(scratch_dir / "voice.wav", sample_rate, ch, measure=False)
    try:
        for s in range(0, n, BLOCK):
            out.write(read(s, min(n, s + BLOCK)))
    finally:
        out.close()
        native.release()
        native.path.unlink(missing_ok=True)
    if out.frames != resampled_frames(info.frames, info.sample_rate, sample_rate):  # a resampler bug, not input
        raise PodcastError(f"--voice {info.path}: resampled to {out.frames} frames, expected "
                           f"{resampled_frames(info.frames, info.sample_rate, sample_rate)}")
    return VoiceTrack(out, info)


def read_voice(path: str | Path, sample_rate: int, *, channels: int | None = None) -> np.ndarray:
    """A voice track of any common format as float32 (frames, channels) at `sample_rate`, at its
    true length (see the module docstring). In memory: for long voices use `open_voice`."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="soundtrack-voice-") as tmp:
        v = open_voice(path, sample_rate, Path(tmp))
        read = mapped_reader(v.read, v.channels, channels or v.channels)
        a = read(0, v.frames)
        v.scratch.release()
    return np.ascontiguousarray(a)
