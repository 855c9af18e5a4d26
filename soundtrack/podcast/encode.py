"""Encoding a reader to a file in bounded blocks, then measuring what was written.

`publish` is the one path every export takes (a fill, an episode, its music, an array through
`export.export`): map channels, change the rate, gain, true-peak limit (`audio.limit_blocks`),
encode block by block (soundfile for WAV/FLAC/OGG, ffmpeg's stdin for MP3/M4A), decode the file
it wrote and measure that (loudness and true peak of the decoded export, the figures printed);
a file still over the ceiling is encoded again with the ceiling lowered by the overshoot (a
lossy codec's inter-sample overshoot, or the limiter's estimate falling short), and one the
limiter pulled under its loudness target is encoded again a little louder. The file is written
to a temporary path the caller renames (`files.atomic_paths`).
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundtrack.audio import LoudnessMeter, TruePeakMeter, limit_blocks
from soundtrack.errors import Mp4Error, PodcastError
from soundtrack.podcast.chapters import Chapter, ffmetadata
from soundtrack.podcast.delivery import LOSSY_MARGIN_DB, Delivery, Tags, lossy
from soundtrack.podcast.mp4gapless import lead_pad, trim_edit_list
from soundtrack.podcast.stream import BLOCK, Reader, mapped_reader, measure, resampled_reader

OGG_WRITE_FRAMES = 1 << 14  # libvorbis needs stack in proportion to one write call: keep each small
REENCODE_EXTRA_DB = 0.2  # a second encode aims this far under the ceiling beyond the overshoot
LOUDNESS_TOLERANCE_LU = 0.3  # a file this far off its target is encoded again, gained by the difference
MAX_REENCODES = 2
MAX_EXTRA_GAIN_DB = 6.0  # the most a limited file is gained beyond its first estimate
# Vorbis nominal bitrates (kbit/s, 44.1/48 kHz stereo) by quality 0..10: --bitrate picks the quality
_VORBIS_KBPS = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 500)


@dataclass(frozen=True)
class ExportReport:
    """What was written: the file, the loudness and true peak of its decoded audio, the gain
    applied, the frames it decodes to at `sample_rate`, where the chapters went, and whether a
    second encode was needed."""

    path: Path
    lufs: float
    true_peak_db: float
    gain_db: float
    chapters: str
    frames: int = 0
    sample_rate: int = 0
    channels: int = 0
    reencoded: str = ""  # why it was encoded again ("" when once was enough)
    ceiling_db: float = 0.0


def ffmpeg_exe() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise PodcastError("ffmpeg is not installed; it is needed for .mp3 and .m4a (apt-get install ffmpeg)")
    return exe


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][-300:] if lines else "no message"


class _SoundfileWriter:
    def __init__(self, part: Path, ext: str, sr: int, ch: int, delivery: Delivery) -> None:
        import soundfile as sf

        fmt, subtype = {".wav": ("WAV", "PCM_24"), ".flac": ("FLAC", "PCM_24"), ".ogg": ("OGG", "VORBIS")}[ext]
        self.step = OGG_WRITE_FRAMES if ext == ".ogg" else BLOCK
        level = None
        if ext == ".ogg":  # libsndfile: compression level 0 = the best quality (Vorbis q 10), 1 = q 0
            kbps = delivery.bitrate_kbps
            q = min(range(len(_VORBIS_KBPS)), key=lambda i: abs(_VORBIS_KBPS[i] - kbps))
            level = max(0.0, min(1.0, 1.0 - q / 10))
        self.f = sf.SoundFile(str(part), "w", sr, ch, subtype=subtype, format=fmt, compression_level=level)
        try:
            if ext in (".flac", ".ogg"):
                for k, v in delivery.tags.text.items():
                    setattr(self.f, k, v)
        except BaseException:
            self.f.close()
            raise

    def write(self, block: np.ndarray) -> None:
        for s in range(0, block.shape[0], self.step):
            self.f.write(block[s : s + self.step])

    def close(self) -> None:
        self.f.close()

    def abort(self) -> None:
        self.f.close()


class _FfmpegWriter:
    """ffmpeg reading raw float32 from its stdin; chapters and tags from an ffmetadata file."""

    def __init__(self, path: Path, part: Path, ext: str, sr: int, ch: int, frames: int, delivery: Delivery,
                 chapters: list[Chapter] | None, scratch: Path) -> None:
        self.path, self.part, self.ext, self.frames = path, part, ext, frames
        mp4 = ext != ".mp3"
        self.pad = lead_pad(frames) if mp4 else 0
        br = delivery.bitrate
        codec = ["-c:a", "aac", "-b:a", br, "-movflags", "+faststart", "-use_editlist", "1",
                 "-movie_timescale", str(sr), "-f", "mp4" if ext == ".aac" else "ipod"] if mp4 else \
            ["-c:a", "libmp3lame", "-b:a", br, "-id3v2_version", "3", "-write_xing", "1", "-f", "mp3"]
        cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
               "-f", "f32le", "-ar", str(sr), "-ac", str(ch), "-i", "pipe:0"]
        tags = delivery.tags
        inputs = 1
        maps = ["-map", "0:a"]
        if chapters or tags.text:
            meta = scratch / f"meta-{part.name}.txt"
            meta.write_text(ffmetadata(chapters or [], frames / sr, tags=tags.text), encoding="utf-8")
            cmd += ["-f", "ffmetadata", "-i", str(meta)]
            maps += ["-map_metadata", str(inputs), "-map_chapters", str(inputs)]
            inputs += 1
        if tags.artwork is not None:
            cmd += ["-i", str(tags.artwork)]
            maps += ["-map", f"{inputs}:v", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
            inputs += 1
        cmd += [*maps, *codec, str(part)]
        self.err = open(scratch / f"ffmpeg-{part.name}.log", "w+b")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.err)
        # a thread feeds ffmpeg, so limiting the next blocks overlaps with encoding these
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self.broken = False
        self.feeder = threading.Thread(target=self._feed, name="soundtrack-ffmpeg-feed", daemon=True)
        self.feeder.start()
        if self.pad:  # AAC: silence in front fills the last frame exactly; the edit list skips it
            self.write(np.zeros((self.pad, ch), np.float32))

    def _feed(self) -> None:
        stdin = self.p.stdin
        assert stdin is not None  # Popen(stdin=PIPE)
        while True:
            data = self.q.get()
            if data is None:
                break
            if self.broken:
                continue
            try:
                stdin.write(data)
            except (BrokenPipeError, OSError):
                self.broken = True
        try:
            stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def write(self, block: np.ndarray) -> None:
        if self.broken:
            self._stop()
            self._fail()
        self.q.put(np.ascontiguousarray(block, dtype="<f4").tobytes())

    def _stop(self) -> None:
        if self.feeder.is_alive():
            self.q.put(None)
            self.feeder.join()

    def _fail(self) -> None:
        rc = self.p.wait()
        self.err.seek(0)
        msg = _last_line(self.err.read().decode("utf-8", "replace"))
        raise PodcastError(f"{self.path}: ffmpeg failed ({rc}): {msg}")

    def close(self) -> None:
        self._stop()
        if self.p.wait() != 0 or self.broken:
            self._fail()
        self.err.close()
        if self.ext != ".mp3":
            try:
                trim_edit_list(self.part, self.frames, self.pad)  # the temporary file: not in place yet
            except Mp4Error as e:
                raise PodcastError(f"{self.path}: cannot make the AAC export sample-exact: {e}") from None

    def abort(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.broken = True
        while self.feeder.is_alive():  # let the feeder drain and end
            try:
                self.q.put(None, timeout=0.1)
            except queue.Full:
                try:
                    self.q.get_nowait()
                except queue.Empty:
                    pass
            self.feeder.join(timeout=0.1)
        self.p.wait()
        self.err.close()


def decode_measure(path: Path, ext: str, channels: int) -> tuple[int, float, float]:
    """(frames, integrated LUFS, true peak dBTP) of the file as a decoder gives it back:
    soundfile for WAV/FLAC/OGG, ffmpeg for MP3/M4A, read in blocks."""
    sr = None
    frames = 0
    if ext in (".wav", ".flac", ".ogg"):
        import soundfile as sf

        with sf.SoundFile(str(path)) as f:
            sr, ch = f.samplerate, f.channels
            m, p = LoudnessMeter(sr, ch), TruePeakMeter()
            for b in f.blocks(BLOCK, dtype="float32", always_2d=True):
                m.add(b)
                p.add(b)
                frames += b.shape[0]
        return frames, m.integrated(), p.dbtp()
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate",
                        "-of", "default=nw=1:nk=1", str(path)], capture_output=True, text=True)
    try:
        sr = int(r.stdout.split()[0])
    except (IndexError, ValueError):
        raise PodcastError(f"{path}: ffprobe cannot read the file just written: {_last_line(r.stderr)}") from None
    m, p = LoudnessMeter(sr, channels), TruePeakMeter()
    proc = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-f", "f32le", "-ac",
                             str(channels), "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stderr is not None  # both are PIPEs
        step = BLOCK * channels * 4
        rest = b""
        while True:
            chunk = proc.stdout.read(step)
            if not chunk:
                break
            chunk = rest + chunk
            k = len(chunk) // (4 * channels) * 4 * channels
            rest = chunk[k:]
            b = np.frombuffer(chunk[:k], "<f4").reshape(-1, channels)
            m.add(b)
            p.add(b)
            frames += b.shape[0]
        err = proc.stderr.read().decode("utf-8", "replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    if proc.returncode != 0:
        raise PodcastError(f"{path}: ffmpeg cannot decode the file just written: {_last_line(err)}")
    return frames, m.integrated(), p.dbtp()


def _encode(read: Reader, frames: int, sr: int, ch: int, path: Path, part: Path, ext: str, *, gain_db: float,
            ceiling_db: float, delivery: Delivery, chapters: list[Chapter] | None, scratch: Path) -> None:
    w = _FfmpegWriter(path, part, ext, sr, ch, frames, delivery, chapters, scratch) if ext in (".mp3", ".m4a", ".aac") \
        else _SoundfileWriter(part, ext, sr, ch, delivery)
    try:
        for b in limit_blocks(read, frames, sr, gain_db=gain_db, ceiling_db=ceiling_db, block=BLOCK):
            w.write(b)
    except BaseException:
        w.abort()
        raise
    w.close()


def publish(read: Reader, frames: int, sample_rate: int, channels: int, path: Path, part: Path, *,
            delivery: Delivery, scratch: Path, lufs: float | None = None, chapters: list[Chapter] | None = None,
            gain_db: float | None = None, aim: bool = True) -> ExportReport:
    """Encode `frames` frames from `read` (at `sample_rate`, `channels`) to `part`, the temporary
    file for `path` (whose suffix says the format), as `delivery` says.

    The gain is `gain_db` when given, else the delivery's target less the loudness of what is
    delivered (`lufs` when the caller measured it at this rate and these channels, else one
    measuring pass here). The file is decoded and measured; it is encoded again (at most twice)
    if its true peak is over the ceiling (the ceiling lowered by the overshoot) or, when `aim`
    (the file itself should meet the target), if its loudness is more than `LOUDNESS_TOLERANCE_LU`
    off the target (the limiter took level away: the gain rises by the shortfall). Returns what
    the decoded file measures."""
    ext = path.suffix.lower()
    ch = delivery.channels or channels
    sr = delivery.sample_rate or sample_rate
    r = mapped_reader(read, channels, ch)
    r, n = resampled_reader(r, frames, sample_rate, sr)
    if gain_db is None:
        if delivery.target_lufs is None:
            gain_db = 0.0
        else:
            if lufs is None or ch != channels or sr != sample_rate:
                lufs, _ = measure(r, n, sr, ch)
            gain_db = 0.0 if lufs <= -70.0 else delivery.target_lufs - lufs
    want = delivery.target_lufs if aim else None
    ceiling = delivery.true_peak_db - (LOSSY_MARGIN_DB if lossy(path) else 0.0)
    start_gain = gain_db
    again: list[str] = []
    for attempt in range(1 + MAX_REENCODES):
        _encode(r, n, sr, ch, path, part, ext, gain_db=gain_db, ceiling_db=ceiling, delivery=delivery,
                chapters=chapters, scratch=scratch)
        got, lufs_out, tp = decode_measure(part, ext, ch)
        over = tp > delivery.true_peak_db  # a codec's overshoot (or the limiter's estimate)
        off = want is not None and lufs_out > -70.0 and abs(lufs_out - want) > LOUDNESS_TOLERANCE_LU
        if not (over or off) or attempt == MAX_REENCODES:
            break
        if over:
            ceiling -= tp - delivery.true_peak_db + REENCODE_EXTRA_DB
            again.append(f"true peak {tp:.1f} dBTP over {delivery.true_peak_db:g}")
        if off and want is not None:
            gain_db = min(start_gain + MAX_EXTRA_GAIN_DB, gain_db + (want - lufs_out))
            again.append(f"{lufs_out:.1f} LUFS after limiting")
    if got != n:
        raise PodcastError(f"{path}: the file decodes to {got} frames, not the {n} written")
    kept = "none"
    if chapters and ext in (".mp3", ".m4a", ".aac"):
        kept = "ID3 CHAP frames" if ext == ".mp3" else "MP4 chapters"
    return ExportReport(path, lufs_out, tp, gain_db, kept, got, sr, ch, "; ".join(again), ceiling)


def check_tools(paths: list[Path], tags: Tags | None = None) -> None:
    """Refuse (one line) before any work when a format needs a tool that is missing."""
    for p in paths:
        if p.suffix.lower() in (".mp3", ".m4a", ".aac"):
            ffmpeg_exe()
            if shutil.which("ffprobe") is None:
                raise PodcastError("ffprobe is not installed; it is needed to check .mp3 and .m4a exports "
                                   "(apt-get install ffmpeg)")
