"""The one exception hierarchy: every error the engine raises on purpose is a SoundtrackError,
classified by what the caller must do about it:

- `InvalidInputError` (also a ValueError): what was asked is wrong (a graph, an option, a
  duration, a request, a snapshot, a message): fix it and ask again. The message names the
  thing, the value and what would be valid.
- `OperationError` (also a RuntimeError): the work failed on the way (a tool missing, a
  device, a file on disk, a model): fix the environment or the data and retry.
- `BusyError` (an OperationError): another process holds what was asked for (a bank being
  built): wait, then retry.
- `RefusedError` (also a RuntimeError): a server refused a request and said why with a `code`:
  look at the code (`soundtrack.ipc.ErrorCode`).

Every module raises these classes, or subclasses defined here; nothing else.
"""

from __future__ import annotations

from typing import Any


class SoundtrackError(Exception):
    """Root of all deliberate soundtrack errors."""


# -- the input is wrong ----------------------------------------------------------------------------


class InvalidInputError(SoundtrackError, ValueError):
    """What was asked is wrong: fix it and ask again."""


class TimingError(InvalidInputError):
    """An impossible tempo, meter, position or duration."""


class KeyNameError(InvalidInputError):
    """A key or mode name that cannot be understood."""


class GraphError(InvalidInputError):
    """A graph file that does not parse or does not validate."""


class SpecError(InvalidInputError):
    """A stem spec that no generator could satisfy (0 bars, 500 bpm, ...)."""


class SequencerError(InvalidInputError):
    """A request the sequencer cannot honour (unknown state, event, parameter, a bad snapshot)."""


class ScriptError(InvalidInputError):
    """An event script (graphs/*_session.toml) that does not parse or names what the graph lacks."""


class PodcastError(InvalidInputError):
    """A fill, an episode or its chapters that cannot be made as asked."""


class StudioError(InvalidInputError):
    """A studio request that cannot be honoured (an edit, a state, a take)."""


class ProtocolError(InvalidInputError):
    """A malformed or invalid IPC message (the peer's bug)."""


class FramingError(ProtocolError):
    """Bytes that cannot be framed as messages: the connection that sent them is closed. `code`
    is the protocol error code sent with the closing notification."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- the work failed -------------------------------------------------------------------------------


class OperationError(SoundtrackError, RuntimeError):
    """The work failed on the way: fix the environment or the data and retry."""


class GenerationError(OperationError):
    """A generator failed while producing a stem."""


class AudioError(OperationError):
    """Audio that cannot be read, written or processed (or a tool that processes it is missing)."""


class Mp4Error(AudioError):
    """An MP4/M4A file whose boxes are not what gapless playback needs."""


class BankError(OperationError):
    """A loop bank that is missing, stale, corrupt, unsafe or locked."""


class BusyError(BankError):
    """Another process holds the bank (or its lock): wait, then retry."""


class DeviceError(OperationError):
    """The sound card cannot be opened or stopped working."""


class BuildError(OperationError):
    """A background build (the studio's regeneration) failed; what played goes on."""


# -- a server refused --------------------------------------------------------------------------------


class RefusedError(SoundtrackError, RuntimeError):
    """A request refused with a protocol error `code` (an int; `soundtrack.ipc.ErrorCode`), a
    `message` and optional `data`."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class RpcError(RefusedError):
    """Raised inside the server: becomes the error response ``{code, message[, data]}``."""

    def to_wire(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": int(self.code), "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


class RemoteError(RefusedError):
    """An error response received by a client: `code` (an ErrorCode number), `message`, `data`;
    `method` is the request it answered."""

    def __init__(self, method: str, error: Any, *, code_name: str | None = None) -> None:
        if isinstance(error, dict):
            code, message, data = error.get("code"), str(error.get("message")), error.get("data")
        else:
            code, message, data = None, str(error), None
        super().__init__(code, message, data)  # type: ignore[arg-type]
        self.method = method
        name = code_name or str(code)
        self.args = (f"{method}: {name} ({code}): {message}",)

    def __str__(self) -> str:
        return str(self.args[0])
