"""SoundFont synthesis back ends: FluidSynth (libfluidsynth through ctypes) or tinysoundfont.

FluidSynth (LGPL-2.1, loaded at run time from the system's ``libfluidsynth.so.3``, so this MIT
package links nothing) is the reference player of FluidR3_GM and the default wherever the
library is installed (`make setup` installs Debian's libfluidsynth3): it interpolates every
envelope within its 64-frame blocks, runs the fonts' modulators (CC1 -> vibrato, velocity ->
brightness, CC11 -> expression) and its voices never step. tinysoundfont (pip-only) is the
fallback: its envelopes move in steps once per 64-frame block of each render call, so this
module renders the first milliseconds of every attack and release in 8-frame calls, which
makes those steps 8x smaller.

Both are driven the same way by `render.SoundFontPlayer`: every group of notes that start on
one frame is rendered on a quiet, freshly reset channel from a block boundary, so it starts on
its exact frame, and the groups are summed (no note is ever cut by a later one).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Any

import numpy as np

from soundtrack.errors import GenerationError

BLOCK = 64  # FluidSynth's internal block: events take effect at its boundaries
ENV_ENGINE = "SOUNDTRACK_SYNTH"  # "fluidsynth" | "tinysoundfont": force a back end


def _find_fluid() -> ctypes.CDLL | None:
    names = [ctypes.util.find_library("fluidsynth"), "libfluidsynth.so.3", "libfluidsynth.so.2",
             "libfluidsynth.3.dylib", "libfluidsynth.dylib"]
    for n in names:
        if not n:
            continue
        try:
            return ctypes.CDLL(n)
        except OSError:
            continue
    return None


_LIB: Any = None
_LIB_TRIED = False


def fluid_lib() -> ctypes.CDLL | None:
    """libfluidsynth, or None where it is not installed (or $SOUNDTRACK_SYNTH=tinysoundfont)."""
    global _LIB, _LIB_TRIED
    if os.environ.get(ENV_ENGINE, "").lower() == "tinysoundfont":
        return None
    if not _LIB_TRIED:
        _LIB_TRIED = True
        lib = _find_fluid()
        if lib is not None:
            vp, ip, cp, dp = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_double
            sig = {
                "new_fluid_settings": ([], vp), "new_fluid_synth": ([vp], vp),
                "fluid_settings_setnum": ([vp, cp, dp], ip), "fluid_settings_setint": ([vp, cp, ip], ip),
                "fluid_synth_sfload": ([vp, cp, ip], ip),
                "fluid_synth_program_select": ([vp, ip, ip, ip, ip], ip),
                "fluid_synth_noteon": ([vp, ip, ip, ip], ip), "fluid_synth_noteoff": ([vp, ip, ip], ip),
                "fluid_synth_cc": ([vp, ip, ip, ip], ip), "fluid_synth_pitch_bend": ([vp, ip, ip], ip),
                "fluid_synth_all_sounds_off": ([vp, ip], ip),
                "fluid_synth_write_float": ([vp, ip, vp, ip, ip, vp, ip, ip], ip),
                "fluid_synth_get_sfont_by_id": ([vp, ip], vp), "fluid_sfont_get_preset": ([vp, ip, ip], vp),
                "fluid_preset_get_name": ([vp], cp), "fluid_set_log_function": ([ip, vp, vp], vp),
                "fluid_synth_set_channel_type": ([vp, ip, ip], ip),
                "delete_fluid_synth": ([vp], None), "delete_fluid_settings": ([vp], None),
                "fluid_synth_add_sfont": ([vp, vp], ip), "fluid_synth_remove_sfont": ([vp, vp], ip),
                "fluid_synth_set_interp_method": ([vp, ip, ip], ip),
            }
            try:
                for name, (args, res) in sig.items():
                    fn = getattr(lib, name)
                    fn.argtypes, fn.restype = args, res
                for level in (1, 2, 3, 4):  # errors, warnings, info and debug: not on our stderr
                    lib.fluid_set_log_function(level, None, None)
                _LIB = lib
            except AttributeError:
                _LIB = None
    return _LIB


def engine_name() -> str:
    return "fluidsynth" if fluid_lib() is not None else "tinysoundfont"


def fluid_interp() -> int:
    """FluidSynth's interpolation order: 7th-order sinc by default. FluidSynth's own default
    (4th order) leaves an aliasing step in the attack of bright samples (the rock lead's first
    13 ms, 8.8x its neighbourhood) at no gain in speed here. SOUNDTRACK_FLUID_INTERP overrides it
    and, since it changes the bits, the generator's version says which one rendered a stem."""
    raw = os.environ.get("SOUNDTRACK_FLUID_INTERP", "7")
    if raw not in ("0", "1", "4", "7"):
        raise GenerationError(f"SOUNDTRACK_FLUID_INTERP={raw!r} must be 0, 1, 4 or 7 (FluidSynth's interpolation orders)")
    return int(raw)


class FluidBackend:
    """One FluidSynth instance with one font (reverb and chorus off: the mix has its own)."""

    name = "fluidsynth"
    fine = False

    def __init__(self, path: str, sample_rate: int) -> None:
        lib = fluid_lib()
        if lib is None:
            raise GenerationError("libfluidsynth is not installed")
        self.lib = lib
        self.path = path
        self.sample_rate = sample_rate
        # a synth that only holds the loaded font; every render gets a fresh one sharing it
        self._master_settings, self._master = self._new_synth(8)
        sfid = lib.fluid_synth_sfload(self._master, os.fsencode(path), 1)
        if sfid < 0:
            raise GenerationError(f"soundfont {path!r} cannot be loaded by FluidSynth; give a valid .sf2 file")
        self._sfont = lib.fluid_synth_get_sfont_by_id(self._master, sfid)
        self.synth = self.settings = None
        self.renew()

    def _new_synth(self, polyphony: int) -> tuple[Any, Any]:
        lib = self.lib
        st = lib.new_fluid_settings()
        lib.fluid_settings_setnum(st, b"synth.sample-rate", float(self.sample_rate))
        lib.fluid_settings_setnum(st, b"synth.gain", 0.5)
        for key, val in ((b"synth.reverb.active", 0), (b"synth.chorus.active", 0), (b"synth.polyphony", polyphony),
                         (b"synth.cpu-cores", 1), (b"synth.audio-channels", 1), (b"synth.verbose", 0)):
            lib.fluid_settings_setint(st, key, val)
        synth = lib.new_fluid_synth(st)
        if not synth:
            raise GenerationError("FluidSynth could not start")
        return st, synth

    def _drop(self) -> None:
        if self.synth:
            self.lib.fluid_synth_remove_sfont(self.synth, self._sfont)  # the font stays with the master
            self.lib.delete_fluid_synth(self.synth)
            self.lib.delete_fluid_settings(self.settings)
            self.synth = self.settings = None

    def renew(self) -> None:
        """A fresh synth sharing the loaded font (well under a millisecond).

        A FluidSynth instance carries state from one render into the next (the same notes
        played again differ by up to -60 dB), so every score is rendered on a fresh one: the
        same score then gives the same bits in any process, whatever ran before."""
        self._drop()
        self.settings, self.synth = self._new_synth(256)
        self.sfid = self.lib.fluid_synth_add_sfont(self.synth, self._sfont)
        self.lib.fluid_synth_set_interp_method(self.synth, -1, fluid_interp())
        if self.sfid < 0:
            raise GenerationError(f"FluidSynth could not attach soundfont {self.path!r}")
        self.written = 0
        self._buf = np.zeros((8192, 2), dtype=np.float32)

    def __del__(self) -> None:
        try:
            self._drop()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass

    def select(self, chan: int, bank: int, program: int, drum: bool) -> bool:
        if drum:
            self.lib.fluid_synth_set_channel_type(self.synth, chan, 1)
        return self.lib.fluid_synth_program_select(self.synth, chan, self.sfid, bank, program) == 0

    def preset_name(self, bank: int, program: int) -> str | None:
        sf = self.lib.fluid_synth_get_sfont_by_id(self.synth, self.sfid)
        pr = self.lib.fluid_sfont_get_preset(sf, bank, program) if sf else None
        name = self.lib.fluid_preset_get_name(pr) if pr else None
        return name.decode("latin-1") if name else None

    def noteon(self, chan: int, key: int, vel: int) -> None:
        self.lib.fluid_synth_noteon(self.synth, chan, key, vel)

    def noteoff(self, chan: int, key: int) -> None:
        self.lib.fluid_synth_noteoff(self.synth, chan, key)

    def cc(self, chan: int, num: int, val: int) -> None:
        self.lib.fluid_synth_cc(self.synth, chan, num, val)

    def bend(self, chan: int, val: int) -> None:
        self.lib.fluid_synth_pitch_bend(self.synth, chan, val)

    def render(self, n: int, out: np.ndarray, at: int) -> None:
        """Render `n` frames into out[at : at + n] (float32 stereo, C-contiguous)."""
        view = out[at : at + n]
        ptr = view.ctypes.data
        self.lib.fluid_synth_write_float(self.synth, n, ptr, 0, 2, ptr, 1, 2)
        self.written += n

    def quiet(self, chan: int) -> None:
        """Kill what still sounds (already inaudible) and realign to a block boundary."""
        self.lib.fluid_synth_all_sounds_off(self.synth, chan)
        pad = (-self.written) % BLOCK + BLOCK
        self.render(pad, self._buf, 0)


class TinyBackend:
    """tinysoundfont with one font: events are exact, envelopes step per render call block."""

    name = "tinysoundfont"
    fine = True

    def renew(self) -> None:
        """tinysoundfont keeps no state between parts once its voices are off (kept: it loads
        FluidR3 in ~4 s)."""

    def __init__(self, path: str, sample_rate: int) -> None:
        import tinysoundfont

        self.synth = tinysoundfont.Synth(samplerate=sample_rate)
        try:
            self.sfid = self.synth.sfload(path, max_voices=1024)
        except (RuntimeError, OSError) as e:
            raise GenerationError(f"soundfont {path!r} cannot be loaded ({e}); give a valid .sf2 file") from None
        self._buf = np.zeros((4096, 2), dtype=np.float32)

    def select(self, chan: int, bank: int, program: int, drum: bool) -> bool:
        try:
            self.synth.program_select(chan, self.sfid, bank, program, is_drums=drum)
            return True
        except RuntimeError:
            return False

    def preset_name(self, bank: int, program: int) -> str | None:
        try:
            return str(self.synth.sfpreset_name(self.sfid, bank, program))
        except Exception:  # noqa: BLE001 - informative only
            return None

    def noteon(self, chan: int, key: int, vel: int) -> None:
        self.synth.noteon(chan, key, vel)

    def noteoff(self, chan: int, key: int) -> None:
        self.synth.noteoff(chan, key)

    def cc(self, chan: int, num: int, val: int) -> None:
        self.synth.control_change(chan, num, val)

    def bend(self, chan: int, val: int) -> None:
        self.synth.pitchbend(chan, val)

    def render(self, n: int, out: np.ndarray, at: int) -> None:
        mv = out[at : at + n].reshape(-1).data.cast("B")  # the frames' bytes, written in place
        self.synth.generate_simple(n, buffer=mv)

    def quiet(self, chan: int) -> None:
        self.synth.sounds_off(chan)
        self.render(BLOCK, self._buf, 0)


_LOADED: dict[tuple[str, int, str, str], Any] = {}


def load_backend(path: str, sample_rate: int, content_hash: str) -> FluidBackend | TinyBackend:
    """The back end for `path` at `sample_rate`, loaded once per process (FluidR3 takes seconds)."""
    if not os.path.isfile(path):
        raise GenerationError(f"soundfont {path!r} does not exist; give a General MIDI .sf2 file")
    engine = engine_name()
    key = (os.path.realpath(path), sample_rate, content_hash, engine)
    got = _LOADED.get(key)
    if got is None:
        got = FluidBackend(path, sample_rate) if engine == "fluidsynth" else TinyBackend(path, sample_rate)
        _LOADED[key] = got
        while len(_LOADED) > 2:
            _LOADED.pop(next(iter(_LOADED)))
    return got
