"""`--output device`: the server plays to the sound card itself (prototypes and tools).

Between the control side (the event loop, which renders blocks from the Sequencer) and the
audio callback (PortAudio's thread) sits one bounded queue of rendered blocks. The callback
only copies: it never renders, allocates a block, takes a blocking lock or waits; when the queue
runs dry it plays silence and counts an underrun. The control side keeps the queue
`queue_blocks` deep, so an event lands at most that many blocks after the frame being heard;
the response to it says the exact output frame, and `status` reports both the frame rendered
and the frame played. `sounddevice` (the `device` extra) is imported only here, when asked for.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from typing import Any, Callable

import numpy as np

from soundtrack.errors import DeviceError

log = logging.getLogger("soundtrack.serve")




def require_sounddevice() -> Any:
    """The sounddevice module, or DeviceError saying what to install."""
    try:
        import sounddevice  # type: ignore[import-not-found]
    except ImportError as e:
        raise DeviceError(
            "--output device needs the sounddevice package and the PortAudio library: "
            "pip install 'soundtrack[device]' and apt-get install libportaudio2 "
            f"(or use --output pull); import failed: {e}"
        ) from None
    except OSError as e:  # sounddevice raises OSError when libportaudio is absent
        raise DeviceError(
            f"--output device: the PortAudio library was not found ({e}); apt-get install libportaudio2, "
            "or use --output pull"
        ) from None
    return sounddevice


def open_sounddevice_stream(*, sample_rate: int, channels: int, blocksize: int, callback: Callable[..., None], device: Any = None) -> Any:
    """A started `sounddevice.OutputStream` calling `callback`, or DeviceError saying what is missing."""
    sounddevice = require_sounddevice()
    try:
        stream = sounddevice.OutputStream(
            samplerate=sample_rate, channels=channels, dtype="float32", blocksize=blocksize, callback=callback, device=device
        )
        stream.start()
    except Exception as e:  # PortAudioError and friends: no device, unsupported rate
        raise DeviceError(f"--output device: cannot open an output stream at {sample_rate} Hz, {channels} channels: {e}") from None
    return stream


BLOCK_FRAMES = 512  # frames per block handed to the sound card
QUEUE_BLOCKS = 4  # blocks queued ahead of it: an event lands at most this many blocks late

class DeviceOutput:
    """The bounded block queue, its audio callback and the producer that keeps it full.

    `open_stream` is called with (sample_rate, channels, blocksize, callback) when playback
    starts; the default opens a sounddevice stream. Frames: `rendered` counts frames put in the
    queue, `played` frames handed to the card (silence from underruns is not counted).
    """

    def __init__(
        self,
        *,
        block_frames: int = BLOCK_FRAMES,
        queue_blocks: int = QUEUE_BLOCKS,
        channels: int = 2,
        open_stream: Callable[..., Any] | None = None,
    ) -> None:
        if block_frames < 16 or queue_blocks < 1:
            raise DeviceError(f"block_frames={block_frames} must be >= 16 and queue_blocks={queue_blocks} >= 1")
        self.block_frames = block_frames
        self.queue_blocks = queue_blocks
        self.channels = channels
        self._open_stream = open_stream or (
            lambda sample_rate, channels, blocksize, callback: open_sounddevice_stream(
                sample_rate=sample_rate, channels=channels, blocksize=blocksize, callback=callback
            )
        )
        self.queue: queue.Queue[np.ndarray] = queue.Queue(maxsize=queue_blocks)
        self._pool = [np.zeros((block_frames, channels), np.float32) for _ in range(queue_blocks + 2)]
        self._next = 0
        self._pending: np.ndarray | None = None  # the part of a block the card has not taken yet
        self._pending_pos = 0
        self.rendered = 0
        self.played = 0
        self.underruns = 0
        self.session: Any = None
        self.stream: Any = None
        self._paused = True
        self._task: asyncio.Task[Any] | None = None

    # -- control side ---------------------------------------------------------------------------
    def attach(self, session: Any) -> None:
        self.session = session

    def fill(self) -> int:
        """Render blocks until the queue is full (never blocks); returns how many were added."""
        added = 0
        while not self._paused and not self.queue.full():
            # a rotating pool of queue_blocks + 2 blocks: the queue (not full) and the block the
            # callback is playing hold at most queue_blocks of them, so the oldest is free
            block = self._pool[self._next]
            self._next = (self._next + 1) % len(self._pool)
            audio, _markers = self.session.render_block(self.block_frames)
            block[...] = audio
            self.queue.put_nowait(block)
            self.rendered += self.block_frames
            added += 1
        return added

    def pause(self) -> None:
        """Stop feeding (a new load); what is queued plays out, then silence."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False
        if self.stream is None:
            self.stream = self._open_stream(self.session.sample_rate, self.channels, self.block_frames, self.callback)
        self.fill()
        self._ensure_task()

    def _ensure_task(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # driven by hand (tests call fill() themselves)
        if self._task is None:
            self._task = loop.create_task(self._produce())

    async def _produce(self) -> None:
        # Top the queue up every quarter block: the loop never waits on the audio thread, and a
        # queue of `queue_blocks` covers the loop's own scheduling jitter.
        period = self.block_frames / max(1, self.session.sample_rate) / 4
        while True:
            await asyncio.sleep(period)
            self.fill()

    def status(self) -> dict[str, Any]:
        return {
            "device_rendered_frames": self.rendered,
            "device_played_frames": self.played,
            "device_queue_blocks": self.queue.qsize(),
            "device_underruns": self.underruns,
            "device_latency_frames": self.rendered - self.played,
        }

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.stream is not None:
            try:
                self.stream.stop()
                self.stream.close()
            except Exception as e:  # closing a dead stream must not stop the shutdown
                log.warning("closing the audio stream: %s", e)
            self.stream = None

    # -- audio thread ---------------------------------------------------------------------------
    def callback(self, outdata: np.ndarray, frames: int, time_info: Any = None, status: Any = None) -> None:
        """sounddevice's callback: copy `frames` queued frames into `outdata`, silence if none."""
        pos = 0
        while pos < frames:
            if self._pending is None:
                try:
                    self._pending = self.queue.get_nowait()
                except queue.Empty:
                    outdata[pos:] = 0.0
                    self.underruns += 1
                    break
                self._pending_pos = 0
            take = min(frames - pos, self._pending.shape[0] - self._pending_pos)
            outdata[pos : pos + take] = self._pending[self._pending_pos : self._pending_pos + take]
            pos += take
            self._pending_pos += take
            self.played += take
            if self._pending_pos >= self._pending.shape[0]:
                self._pending = None
