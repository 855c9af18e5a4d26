"""soundtrack: an adaptive soundtrack engine for games and podcasts.

Stems (intro, main, outro) are generated and cached in a loop bank; a state-graph sequencer
stitches them at beat-aligned edit points as events arrive. See DESIGN.md for the picture.
"""

from soundtrack.errors import (
    AudioError,
    BankError,
    GenerationError,
    GraphError,
    KeyNameError,
    ProtocolError,
    SequencerError,
    SoundtrackError,
    SpecError,
    TimingError,
)

__version__ = "0.1.0"

__all__ = [
    "AudioError",
    "BankError",
    "GenerationError",
    "GraphError",
    "KeyNameError",
    "ProtocolError",
    "SequencerError",
    "SoundtrackError",
    "SpecError",
    "TimingError",
    "__version__",
]
