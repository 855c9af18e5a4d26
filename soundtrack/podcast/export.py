"""Loudness and publishing: normalize to a target, write WAV/FLAC/OGG/MP3/M4A with chapters.

`export(audio, sr, path, target_lufs=-16, chapters=...)` gains the audio to the target
integrated loudness (BS.1770-4) and limits it so its true peak stays at or under -1 dBTP
(-1.5 dBTP before a lossy encoder, which adds inter-sample overshoot), then writes by suffix:

| suffix | writer | chapters kept as |
| --- | --- | --- |
| .wav | soundfile (24-bit PCM) | a sidecar NAME.chapters.json (Podcasting 2.0) |
| .flac, .ogg | soundfile | the same sidecar |
| .mp3 | ffmpeg + libmp3lame (Xing/LAME header: decoders trim the encoder delay and padding) | ID3v2 CHAP/CTOC frames (from ffmetadata) and the sidecar |
| .m4a, .aac | ffmpeg AAC in MP4, padding moved to the front and trimmed by the edit list (`mp4gapless`): exact length | MP4 chapters (from ffmetadata) and the sidecar |

Presets: podcast -16 LUFS (Apple), streaming -14 (Spotify), mono -19 (Apple's mono
equivalent of -16), broadcast -23 (EBU R128).

`read_voice` reads any common format: soundfile first (WAV, FLAC, OGG, MP3), else ffmpeg via
pydub (M4A, AAC, WMA, ...), resampled to the music's rate.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundtrack.audio import as_frames, integrated_loudness, normalize_loudness, write_audio
from soundtrack.files import atomic_path
from soundtrack.podcast.chapters import Chapter, ffmetadata, podcast_json
from soundtrack.podcast.mp4gapless import Mp4Error, lead_pad, trim_edit_list
from soundtrack.podcast.plan import PodcastError

FORMATS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac")
LOUDNESS_PRESETS = {"podcast": -16.0, "streaming": -14.0, "mono": -19.0, "broadcast": -23.0}
TRUE_PEAK_DB = -1.0
LOSSY_MARGIN_DB = 0.5


@dataclass(frozen=True)
class ExportReport:
    """What was written: the file, its loudness and true peak before encoding, the gain applied,
    and where the chapters went."""

    path: Path
    lufs: float
    true_peak_db: float
    gain_db: float
    chapters: str


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise PodcastError("ffmpeg is not installed; it is needed for .mp3 and .m4a export (apt-get install ffmpeg)")
    return exe


def _encode(audio: np.ndarray, sr: int, path: Path, *, chapters: list[Chapter] | None, title: str | None,
            bitrate: str) -> None:
    """Encode with ffmpeg from a float WAV, chapters from an ffmetadata file; atomic rename."""
    import soundfile as sf

    ext = path.suffix.lower()
    mp4 = ext != ".mp3"
    codec = ["-c:a", "aac", "-b:a", bitrate, "-movflags", "+faststart", "-use_editlist", "1",
             "-movie_timescale", str(sr), "-f", "mp4" if ext == ".aac" else "ipod"] if mp4 else \
        ["-c:a", "libmp3lame", "-b:a", bitrate, "-id3v2_version", "3", "-write_xing", "1", "-f", "mp3"]
    # AAC: silence in front fills the last frame exactly; the edit list then skips it (mp4gapless)
    pad = lead_pad(audio.shape[0]) if mp4 else 0
    with tempfile.TemporaryDirectory(prefix="soundtrack-export-") as tmp, atomic_path(path) as part:
        wav = Path(tmp) / "in.wav"
        # a scratch file ffmpeg reads once: no need for write_audio's atomic rename and fsync
        sf.write(wav, np.concatenate([np.zeros((pad, audio.shape[1]), audio.dtype), audio]) if pad else audio, sr,
                 format="WAV", subtype="FLOAT")
        cmd = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav)]
        if chapters or title:
            meta = Path(tmp) / "meta.txt"
            meta.write_text(ffmetadata(chapters or [], audio.shape[0] / sr, title=title), encoding="utf-8")
            cmd += ["-f", "ffmetadata", "-i", str(meta), "-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"]
        cmd += [*codec, str(part)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise PodcastError(f"{path}: ffmpeg failed ({r.returncode}): {r.stderr.strip()[-400:]}")
        if mp4:
            try:
                trim_edit_list(part, audio.shape[0], pad)  # patches `part` in place: it is not `path` yet
            except Mp4Error as e:
                raise PodcastError(f"{path}: cannot make the AAC export sample-exact: {e}") from None


def export(audio: np.ndarray, sample_rate: int, path: str | Path, *, target_lufs: float | None = -16.0,
           true_peak_db: float = TRUE_PEAK_DB, chapters: list[Chapter] | None = None, title: str | None = None,
           bitrate: str = "192k") -> ExportReport:
    """Normalize `audio` (float32, frames x channels) to `target_lufs` (None: keep its level,
    still limited to `true_peak_db`) and write it to `path` by suffix (see the module table)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext not in FORMATS:
        raise PodcastError(f"{p}: unsupported format {p.suffix!r}; use one of {', '.join(FORMATS)}")
    lossy = ext in (".mp3", ".m4a", ".aac", ".ogg")
    ceiling = true_peak_db - (LOSSY_MARGIN_DB if lossy else 0.0)
    a = as_frames(audio)
    if target_lufs is not None and not -40.0 <= target_lufs <= -5.0:
        raise PodcastError(f"target_lufs={target_lufs!r} must be between -40 and -5 LUFS (presets: "
                           + ", ".join(f"{k} {v:g}" for k, v in LOUDNESS_PRESETS.items()) + ")")
    out, gain, peak = normalize_loudness(a, sample_rate, target_lufs=target_lufs, true_peak_db=ceiling)
    kept = "none"
    if ext in (".mp3", ".m4a", ".aac"):
        _encode(out, sample_rate, p, chapters=chapters, title=title, bitrate=bitrate)
        kept = ("ID3 CHAP frames" if ext == ".mp3" else "MP4 chapters") if chapters else "none"
    else:
        write_audio(p, out, sample_rate, subtype="PCM_24" if ext in (".wav", ".flac") else None)
    if chapters:
        side = p.with_name(p.stem + ".chapters.json")
        side.write_text(podcast_json(chapters), encoding="utf-8")
        kept = f"{kept} + {side.name}" if kept != "none" else side.name
    return ExportReport(p, integrated_loudness(out, sample_rate), peak, gain, kept)


def read_voice(path: str | Path, sample_rate: int, *, channels: int | None = None) -> np.ndarray:
    """A voice track of any common format as float32 (frames, channels) at `sample_rate`."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise PodcastError(f"{p}: no such voice file")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError):
        try:
            from pydub import AudioSegment

            seg = AudioSegment.from_file(str(p))
        except Exception as e:  # pydub raises its own and ffmpeg's errors
            raise PodcastError(f"{p}: cannot read voice audio (soundfile, then ffmpeg via pydub): {e}") from None
        sr = seg.frame_rate
        raw = np.array(seg.get_array_of_samples(), dtype=np.float32).reshape(-1, seg.channels)
        data = raw / float(1 << (8 * seg.sample_width - 1))
    a = as_frames(data, channels)
    if sr != sample_rate:
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(sr), int(sample_rate))
        a = resample_poly(a, sample_rate // g, int(sr) // g, axis=0).astype(np.float32)
    return np.ascontiguousarray(a)
