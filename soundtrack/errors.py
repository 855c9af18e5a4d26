"""The one exception hierarchy: every error the engine raises on purpose is a SoundtrackError.

Subclasses also inherit ValueError (bad input) or RuntimeError (a failure while doing work), so
callers that only know the builtins still catch them sensibly.
"""

from __future__ import annotations


class SoundtrackError(Exception):
    """Root of all deliberate soundtrack errors."""


class TimingError(SoundtrackError, ValueError):
    """An impossible tempo, meter, position or duration."""


class KeyNameError(SoundtrackError, ValueError):
    """A key or mode name that cannot be understood."""


class GraphError(SoundtrackError, ValueError):
    """A graph file that does not parse or does not validate."""


class SpecError(SoundtrackError, ValueError):
    """A stem spec that no generator could satisfy (0 bars, 500 bpm, ...)."""


class GenerationError(SoundtrackError, RuntimeError):
    """A generator failed while producing a stem."""


class AudioError(SoundtrackError, RuntimeError):
    """Audio that cannot be read, written or processed."""


class BankError(SoundtrackError, RuntimeError):
    """A loop bank that is missing, stale, corrupt or locked."""


class SequencerError(SoundtrackError, ValueError):
    """A request the sequencer cannot honour (unknown state, event, parameter)."""


class ProtocolError(SoundtrackError, ValueError):
    """A malformed or invalid IPC message."""
