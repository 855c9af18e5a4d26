"""Sample-exact AAC in MP4: move the encoder's padding to the front, where decoders trim it.

An AAC encoder emits whole 1024-sample frames after 1024 samples of priming, so N samples become
ceil(N / 1024) frames plus one, and the last frame carries padding. MP4 says where the real audio
lies with an edit list (`elst`: skip `media_time` samples, then play `segment_duration`), but
decoders differ on the end: ffmpeg 5.1 trims the start and decodes the whole last frame, so 48000
samples came back as 48128. Decoders that read edit lists do trim the start (ffmpeg and GStreamer
here). So the exporter prepends `lead_pad(N)` samples of silence, which makes the padded length a
whole number of frames (no end padding at all), and `trim_edit_list` widens the edit's start skip
over that silence and sets its duration to exactly N. The file then decodes to N samples, aligned,
whether the decoder trims the end or not; one that ignores edit lists hears priming plus silence
first, as with any AAC file.

The patch rewrites fixed-size fields in place (the edit list, the track and movie durations), so
box sizes and chunk offsets stay valid.
"""

from __future__ import annotations

import struct
from pathlib import Path

from soundtrack.errors import Mp4Error

AAC_FRAME = 1024




def lead_pad(frames: int, frame_size: int = AAC_FRAME) -> int:
    """Silent samples to prepend so `frames` plus them is a whole number of codec frames."""
    return (-int(frames)) % frame_size


def _boxes(b: bytes | bytearray, start: int, end: int):
    """(type, body start, box end) for each box in b[start:end]."""
    off = start
    while off + 8 <= end:
        size, typ = struct.unpack_from(">I4s", b, off)
        hdr = 8
        if size == 1:
            size = struct.unpack_from(">Q", b, off + 8)[0]
            hdr = 16
        elif size == 0:
            size = end - off
        if size < hdr or off + size > end:
            raise Mp4Error(f"box {typ!r} at byte {off} has a bad size {size}")
        yield typ, off + hdr, off + size
        off += size


def _child(b: bytes | bytearray, start: int, end: int, typ: bytes) -> tuple[int, int] | None:
    for t, s, e in _boxes(b, start, end):
        if t == typ:
            return s, e
    return None


def _duration_field(b: bytes | bytearray, body: int, *, v0: int, v1: int) -> tuple[str, int]:
    """struct format and offset of the duration in a full box whose version-0/1 layouts put it at v0/v1."""
    return (">I", body + v0) if b[body] == 0 else (">Q", body + v1)


def trim_edit_list(path: str | Path, frames: int, pad: int) -> None:
    """Make the audio track of the MP4 at `path` play exactly `frames` samples starting `pad` samples
    after the encoder's own priming skip.

    The file is patched in place, so callers hand it a temporary file they rename into place
    afterwards (the exporter's `atomic_path`); a file it refuses (Mp4Error) is left untouched.
    """
    p = Path(path)
    b = bytearray(p.read_bytes())
    moov = _child(b, 0, len(b), b"moov")
    if moov is None:
        raise Mp4Error(f"{p}: no moov box")
    mvhd = _child(b, *moov, b"mvhd")
    if mvhd is None:
        raise Mp4Error(f"{p}: no mvhd box")
    # mvhd: version/flags, creation, modification, timescale, duration (32- or 64-bit times)
    movie_scale = struct.unpack_from(">I", b, mvhd[0] + (12 if b[mvhd[0]] == 0 else 20))[0]
    audio = None
    track_durations = []
    for t, s, e in _boxes(b, *moov):
        if t != b"trak":
            continue
        tkhd = _child(b, s, e, b"tkhd")
        mdia = _child(b, s, e, b"mdia")
        hdlr = _child(b, *mdia, b"hdlr") if mdia else None
        if tkhd is None or mdia is None or hdlr is None:
            raise Mp4Error(f"{p}: a track lacks tkhd or hdlr")
        tk_fmt, tk_at = _duration_field(b, tkhd[0], v0=20, v1=28)
        if b[hdlr[0] + 8:hdlr[0] + 12] == b"soun":
            if audio is not None:
                raise Mp4Error(f"{p}: more than one audio track")
            audio = (s, e, mdia, tk_fmt, tk_at)
        else:
            track_durations.append(struct.unpack_from(tk_fmt, b, tk_at)[0])
    if audio is None:
        raise Mp4Error(f"{p}: no audio track")
    s, e, mdia, tk_fmt, tk_at = audio
    mdhd = _child(b, *mdia, b"mdhd")
    edts = _child(b, s, e, b"edts")
    elst = _child(b, *edts, b"elst") if edts else None
    if mdhd is None or elst is None:
        raise Mp4Error(f"{p}: the audio track has no edit list (ffmpeg writes one with -use_editlist 1)")
    media_scale = struct.unpack_from(">I", b, mdhd[0] + (12 if b[mdhd[0]] == 0 else 20))[0]
    es = elst[0]
    version, count = b[es], struct.unpack_from(">I", b, es + 4)[0]
    if count != 1:
        raise Mp4Error(f"{p}: the audio edit list has {count} entries; expected 1")
    fmt = ">Ii" if version == 0 else ">Qq"
    _, media_time = struct.unpack_from(fmt, b, es + 8)
    if media_time < 0:
        raise Mp4Error(f"{p}: the audio edit is an empty edit (media_time {media_time})")
    # the segment duration is in movie time, the start skip in media (sample) time
    if (frames * movie_scale) % media_scale:
        raise Mp4Error(f"{p}: movie timescale {movie_scale} cannot express {frames} samples at {media_scale} Hz "
                       "exactly (ffmpeg: -movie_timescale SAMPLE_RATE)")
    duration = frames * movie_scale // media_scale
    struct.pack_into(fmt, b, es + 8, duration, media_time + pad)
    struct.pack_into(tk_fmt, b, tk_at, duration)
    mv_fmt, mv_at = _duration_field(b, mvhd[0], v0=16, v1=24)
    struct.pack_into(mv_fmt, b, mv_at, max([duration, *track_durations]))
    with open(p, "r+b") as f:
        f.seek(moov[0])
        f.write(b[moov[0]:moov[1]])  # every patched field lies inside moov
