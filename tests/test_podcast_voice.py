"""Podcasts a producer would publish, measured with independent tools: real speech (espeak-ng)
mastered at -24 and -17 LUFS, the music at the asked LU under it (pyloudnorm), exports at -16 LUFS
and under -1 dBTP on ffmpeg's own meter (ebur128=peak=true) for MP3, M4A, OGG and FLAC, voice
files of every format decoded to the source's length, tags and chapters read back by ffprobe.

Uses the small two-state bank of tests/test_podcast.py (its `banks` fixture).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from scipy.signal import resample_poly
from test_podcast import banks  # noqa: F401  (the session fixture)

from soundtrack.podcast import Chapter, Delivery, Tags
from soundtrack.podcast.jobs import score_files
from soundtrack.podcast.mixdown import BedLevels, MixSettings
from soundtrack.podcast.stream import resampled_frames
from soundtrack.podcast.voice import probe_voice, read_voice

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("espeak-ng") is None,
                                reason="needs ffmpeg and espeak-ng")
SR = 48_000
PAUSE = 3.5  # seconds of silence between paragraphs
PARAGRAPHS = [
    "Welcome back to the show. Today we talk about adaptive music, about loops and stems, and about how a "
    "soundtrack can follow a story without getting in its way.",
    "Our guest has written music for games for twenty years. She says the hardest part is not the melody, "
    "it is knowing when to be quiet, and how to come back in.",
    "After the break we will hear how a single theme can be stretched across an hour of conversation, and "
    "why the ending matters more than anything else.",
    "Thank you for listening. If you enjoyed this episode, tell a friend, and we will see you next week.",
]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Four paragraphs of espeak-ng speech with 3.5 s pauses, 48 kHz mono, and each paragraph's
    (first, last) voiced frame."""
    d = tmp_path_factory.mktemp("speech")
    parts, spans, pos = [np.zeros(SR, np.float64)], [], SR
    for i, text in enumerate(PARAGRAPHS):
        w = d / f"p{i}.wav"
        subprocess.run(["espeak-ng", "-s", "165", "-w", str(w), text], check=True, capture_output=True)
        x, sr = sf.read(w, dtype="float64")
        if sr != SR:  # espeak-ng speaks at 22050 Hz
            k = math.gcd(SR, sr)
            x = resample_poly(x, SR // k, sr // k)
        on = np.flatnonzero(np.abs(x) > 1e-3)
        x = x[on[0] : on[-1] + 1]
        spans.append((pos, pos + x.shape[0]))
        parts += [x, np.zeros(int(PAUSE * SR))]
        pos += x.shape[0] + int(PAUSE * SR)
    return np.concatenate(parts).astype(np.float32), spans


def _mastered(voice: np.ndarray, lufs: float) -> np.ndarray:
    got = pyloudnorm.Meter(SR).integrated_loudness(voice.astype(np.float64))
    return (voice * 10 ** ((lufs - got) / 20)).astype(np.float32)


def _chapters(n: int) -> list[Chapter]:
    return [Chapter(0.0, "Welcome"), Chapter(round(n / SR * 0.45, 2), "Interview | bed"),
            Chapter(round(n / SR * 0.7, 2), "Break")]


def _windows(spans: list[tuple[int, int]], total: int) -> tuple[list[slice], list[slice]]:
    """Where the music is fully down (inside speech: 1 s in from either end) and fully up (in the
    pauses: after the 0.6 s release and 0.2 s more, until 0.6 s before the next attack ends)."""
    speech = [slice(a + SR, b - SR) for a, b in spans]
    pauses = [slice(b + int(0.8 * SR), nxt - int(0.6 * SR)) for (_, b), (nxt, _) in zip(spans, spans[1:])]
    return speech, pauses


def _lufs(x: np.ndarray, parts: list[slice]) -> float:
    return pyloudnorm.Meter(SR).integrated_loudness(np.concatenate([x[s] for s in parts]).astype(np.float64))


@pytest.mark.parametrize("level", [-24.0, -17.0])
def test_the_music_sits_the_asked_lu_under_the_voice_in_speech_and_in_pauses(banks, speech, tmp_path, level) -> None:  # noqa: F811
    g, bank, _ = banks[48_000]
    voice, spans = speech
    v = _mastered(voice, level)
    sf.write(tmp_path / "voice.wav", v, SR, subtype="FLOAT")
    bed = BedLevels(speech=18.0, pause=6.0)
    job = score_files(g, _chapters(v.shape[0]), voice=tmp_path / "voice.wav", out=tmp_path / "music.wav",
                      mix=tmp_path / "mix.flac", source=bank, mixing=MixSettings(bed=bed), max_stretch=0.0,
                      delivery=Delivery(target_lufs=None))  # keep the level: the voice is as recorded
    music, sr = sf.read(tmp_path / "music.wav", dtype="float64", always_2d=True)
    assert sr == SR and music.shape[0] == v.shape[0]
    voice_lufs = pyloudnorm.Meter(SR).integrated_loudness(np.repeat(v[:, None], 2, axis=1).astype(np.float64))
    inside, pauses = _windows(spans, v.shape[0])
    under = _lufs(music, inside) - voice_lufs
    up = _lufs(music, pauses) - voice_lufs
    print(f"voice {level} LUFS: music {under:+.2f} LU under speech, {up:+.2f} LU in pauses (asked -18, -6)")
    assert abs(under + 18.0) <= 1.0, (level, under, up)
    assert abs(up + 6.0) <= 1.0, (level, under, up)
    # whatever the voice's own level, the same balance (the old mix put the music 3.4 LU over a -23.7 voice in pauses)
    assert abs(job.measured["music_speech_lu"] + 18.0) < 0.5 and abs(job.measured["music_pause_lu"] + 6.0) < 0.5
    mix, _ = sf.read(tmp_path / "mix.flac", dtype="float64", always_2d=True)
    assert mix.shape[0] == v.shape[0]
    from scipy.ndimage import maximum_filter1d

    # where the ceiling's limiter did not act (its look-ahead and release reach 2 ms either side of a peak)
    clear = maximum_filter1d(np.max(np.abs(music + v[:, None]), axis=1), size=481) < 0.8
    assert clear.mean() > 0.9
    assert np.max(np.abs(mix - music - v[:, None])[clear]) < 1e-4  # the mix is exactly voice + placed music (24-bit)


def _ebur128(path: Path) -> tuple[float, float]:
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null",
                        "-"], capture_output=True, text=True, check=True)
    summary = r.stderr[r.stderr.rindex("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+) dBFS", summary).group(1))
    return i, peak


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".ogg", ".flac"])
def test_exports_meet_minus_16_lufs_and_minus_1_dbtp_on_ffmpegs_meter(banks, speech, tmp_path, suffix) -> None:  # noqa: F811
    g, bank, _ = banks[48_000]
    voice, _ = speech
    v = _mastered(voice, -24.0 if suffix in (".mp3", ".ogg") else -17.0)
    sf.write(tmp_path / "voice.wav", v, SR, subtype="FLOAT")
    out = tmp_path / f"episode{suffix}"
    job = score_files(g, _chapters(v.shape[0]), voice=tmp_path / "voice.wav", mix=out, source=bank, max_stretch=0.0)
    lufs, peak = _ebur128(out)
    print(f"{suffix}: ffmpeg ebur128 {lufs:.1f} LUFS, true peak {peak:.1f} dBTP; printed {job.mix.lufs:.2f} LUFS")
    assert abs(lufs + 16.0) <= 0.5 and peak <= -1.0, (suffix, lufs, peak)
    # what the tool printed is what the decoded file measures (our meter, within ffmpeg's 0.1 rounding)
    assert abs(job.mix.lufs - lufs) <= 0.25 and job.mix.true_peak_db <= -1.0
    assert job.mix.frames == v.shape[0]


def test_voice_files_of_every_format_decode_to_the_sources_length(speech, tmp_path) -> None:
    voice, _ = speech
    src = voice[: 12 * SR + 1234]
    sr = 44_100
    x = resample_poly(src.astype(np.float64), 147, 160).astype(np.float32)  # a 44.1 kHz source
    sf.write(tmp_path / "src.wav", x, sr, subtype="FLOAT")
    sf.write(tmp_path / "src48.wav", src, SR, subtype="FLOAT")

    def enc(name: str, *args: str, source: str = "src.wav") -> Path:
        p = tmp_path / name
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(tmp_path / source), *args, str(p)], check=True)
        return p

    files = {
        "wav": tmp_path / "src.wav",
        "flac": enc("v.flac"),
        "mp3": enc("v.mp3", "-c:a", "libmp3lame", "-b:a", "128k"),
        "m4a": enc("v.m4a", "-c:a", "aac", "-b:a", "128k"),  # ffmpeg 5.1 decodes its padding: 811 frames long
        "ogg": enc("v.ogg", "-c:a", "libvorbis"),
        "opus": enc("v.opus", "-c:a", "libopus", "-b:a", "64k", source="src48.wav"),  # Opus runs at 48 kHz
        "stereo 22.05 kHz": enc("v22.wav", "-ar", "22050", "-ac", "2"),
        "5.1": enc("v6.flac", "-ac", "6"),
    }
    n44 = sf.info(str(tmp_path / "src.wav")).frames
    for what, p in files.items():
        if what == "opus":
            expected = src.shape[0]
        elif what.startswith("stereo"):
            expected = resampled_frames(sf.info(str(p)).frames, 22_050, SR)
        else:
            expected = resampled_frames(n44, sr, SR)
        info = probe_voice(p)
        a = read_voice(p, SR)
        assert a.shape[0] == expected, (what, a.shape[0], expected)
        rate = 22_050 if what.startswith("stereo") else (SR if what == "opus" else sr)
        assert a.shape[1] == (2 if what.startswith("stereo") else 1)
        assert info.sample_rate == rate
        # and it lines up with the source: no encoder delay left in front
        ref = src[: a.shape[0]].astype(np.float64)
        got = a[:, 0].astype(np.float64)
        lags = range(-64, 65, 4)
        best = max(lags, key=lambda k: np.dot(ref[max(0, -k) : ref.size - max(0, k)], got[max(0, k) : got.size - max(0, -k)]))
        assert abs(best) <= 4, (what, best)
    # the episode is exactly as long as an M4A voice, end to end
    assert probe_voice(files["m4a"]).frames == sf.info(str(tmp_path / "src.wav")).frames


def test_unreadable_voice_files_give_one_line(tmp_path) -> None:
    from soundtrack.podcast import PodcastError

    (tmp_path / "text.wav").write_text("not audio at all\n" * 50)
    (tmp_path / "empty.m4a").write_bytes(b"")
    good = tmp_path / "good.m4a"
    sf.write(tmp_path / "g.wav", np.zeros(4800, np.float32), SR)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(tmp_path / "g.wav"), str(good)], check=True)
    (tmp_path / "cut.m4a").write_bytes(good.read_bytes()[: 200])
    for name, msg in (("text.wav", "cannot read audio"), ("empty.m4a", "the file is empty"),
                      ("cut.m4a", "no audio stream in the file"), ("nope.mp3", "no such file")):
        with pytest.raises(PodcastError) as e:
            read_voice(tmp_path / name, SR)
        assert msg in str(e.value) and "\n" not in str(e.value) and str(tmp_path / name) in str(e.value)


def test_tags_artwork_and_chapters_read_back_with_ffprobe(banks, speech, tmp_path) -> None:  # noqa: F811
    g, bank, _ = banks[48_000]
    voice, _ = speech
    v = voice[: 30 * SR]
    sf.write(tmp_path / "voice.flac", v, SR)
    cover = tmp_path / "cover.jpg"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v",
                    "1", str(cover)], check=True)
    tags = Tags(title="Episode 7: Loops", artist="The Soundtrack Show", album="Season 2", artwork=cover)
    chapters = [Chapter(0.0, "Welcome"), Chapter(12.5, "Interview"), Chapter(21.25, "Goodbye")]
    for suffix in (".mp3", ".m4a"):
        out = tmp_path / f"ep{suffix}"
        score_files(g, chapters, voice=tmp_path / "voice.flac", mix=out, source=bank, max_stretch=0.0,
                    delivery=Delivery(tags=tags, sample_rate=44_100, channels=1, bitrate="96k"))
        r = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-show_format", "-show_streams", "-of", "json",
                            str(out)], capture_output=True, text=True, check=True)
        info = json.loads(r.stdout)
        ftags = {k.lower(): v for k, v in info["format"]["tags"].items()}
        assert (ftags["title"], ftags["artist"], ftags["album"]) == ("Episode 7: Loops", "The Soundtrack Show", "Season 2")
        audio = [s for s in info["streams"] if s["codec_type"] == "audio"]
        pics = [s for s in info["streams"] if s.get("disposition", {}).get("attached_pic") == 1]
        assert len(pics) == 1 and pics[0]["codec_name"] == "mjpeg", suffix
        assert audio[0]["sample_rate"] == "44100" and audio[0]["channels"] == 1
        assert abs(int(audio[0]["bit_rate"]) - 96_000) < 16_000
        got = [(c["tags"]["title"], round(float(c["start_time"]), 3)) for c in info["chapters"]]
        assert got == [("Welcome", 0.0), ("Interview", 12.5), ("Goodbye", 21.25)], suffix
        n = len(subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(out), "-f", "f32le", "-"],
                               capture_output=True, check=True).stdout) // 4
        assert n == resampled_frames(v.shape[0], SR, 44_100)
