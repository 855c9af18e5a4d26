"""Writing one stem to files: its audio, the JSON grid sidecar, and on request its MIDI and layers."""

from __future__ import annotations

import json
from pathlib import Path

from soundtrack.audio import write_audio
from soundtrack.errors import GenerationError
from soundtrack.stem import Stem


def write_stem(stem: Stem, path: str | Path, *, midi: str | Path | None = None, layers: bool = False) -> list[Path]:
    """Write `stem`'s mix to `path` (format from the suffix: .wav, .flac, .ogg) and its grid
    sidecar (`Stem.info()` as JSON) to PATH with the suffix .json; with `layers`, each layer
    to PATH.LAYER.SUFFIX (``x.wav`` -> ``x.drums.wav``); with `midi`, the score as a standard
    MIDI file there. Returns the paths written: the audio, the layers, the MIDI, the sidecar.

    A `midi` path for a stem without a score is a GenerationError, raised before anything is written.
    """
    if midi is not None and stem.midi is None:
        raise GenerationError(
            f"generator {stem.meta.get('generator', '')!r} does not produce a score to export as MIDI")
    out = Path(path)
    written = [write_audio(out, stem.mix, stem.sample_rate)]
    if layers:
        for name, audio in stem.layers.items():
            written.append(write_audio(out.with_name(f"{out.stem}.{name}{out.suffix}"), audio, stem.sample_rate))
    if midi is not None and stem.midi is not None:
        Path(midi).write_bytes(stem.midi)
        written.append(Path(midi))
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(stem.info(), indent=2) + "\n")
    written.append(sidecar)
    return written
