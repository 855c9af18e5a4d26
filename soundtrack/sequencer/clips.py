"""The sequencer's voices: per-sample gain envelopes and clips (a stem's frames placed at an output frame).

Every value here is a function of the absolute output frame, never of where a render block
starts: an envelope is a list of precomputed gain tables placed at absolute frames, a clip
reads its stem at ``frame - out0``. That is what
makes rendering in blocks of any size bit-identical to rendering in one piece.
"""

from __future__ import annotations

import numpy as np

from soundtrack.audio import fade_curve
from soundtrack.stem import Stem

F32 = np.float32
ONE = F32(1.0)


def ramp_table(n: int, curve: str, *, fade_in: bool) -> np.ndarray:
    """`n` float32 gains for a fade (see `audio.fade_curve`), as one array (for short tables
    and for measuring; the sequencer's envelopes use `Ramp`)."""
    return fade_curve(max(1, n), curve, fade_in=fade_in)  # type: ignore[arg-type]


RAMP_CHUNK = 4096  # a Ramp's values are computed this many at a time, aligned to its first frame
WIDE_FRAMES = 4096  # an envelope's gains are expanded per channel this many frames at a time


class Ramp:
    """A fade's gains, computed a chunk at a time when a block needs them, so a long fade or
    ramp never exists whole in memory (a 64-bar fade at 48 kHz would be tens of MB).

    Gain i is exactly what the whole table would hold: ``fade_curve(n, curve, fade_in)[i]``,
    optionally transformed in float32 as the envelope transforms a table (``v0 * g`` for a
    fade-out from v0, ``v0 + d * g`` for a ramp from v0 by d). Chunks are aligned to frame 0 of
    the ramp, so the values never depend on how blocks cut it. `len` may be shorter than the
    curve's `n` (a ramp cut by a newer command).
    """

    __slots__ = ("n", "length", "curve", "fade_in", "scale", "offset", "_at", "_vals")

    def __init__(self, n: int, curve: str, fade_in: bool, *, length: int | None = None,
                 scale: np.float32 | None = None, offset: np.float32 | None = None) -> None:
        self.n = max(1, int(n))
        self.length = self.n if length is None else max(0, min(int(length), self.n))
        self.curve, self.fade_in = curve, fade_in
        self.scale, self.offset = scale, offset
        self._at = -1  # the chunk held in _vals
        self._vals = np.zeros(0, F32)
        fade_curve(1, curve)  # type: ignore[arg-type]  # an unknown curve fails here, not mid-render

    def __len__(self) -> int:
        return self.length

    def _chunk(self, k: int) -> np.ndarray:
        if k != self._at:
            v = _base_chunk(self.n, self.curve, self.fade_in, k)
            if self.offset is not None:
                v = (self.offset + self.scale * v).astype(F32)
            elif self.scale is not None:
                v = (self.scale * v).astype(F32)
            self._at, self._vals = k, v
        return self._vals

    def values(self, a: int, b: int) -> np.ndarray:
        """Gains [a, b) as float32 (0 <= a <= b <= len)."""
        if b <= a:
            return np.zeros(0, F32)
        k0, k1 = a // RAMP_CHUNK, (b - 1) // RAMP_CHUNK
        if k0 == k1:
            c = self._chunk(k0)
            return c[a - k0 * RAMP_CHUNK : b - k0 * RAMP_CHUNK]
        out = np.empty(b - a, F32)
        pos = a
        for k in range(k0, k1 + 1):
            c = self._chunk(k)
            lo, hi = max(pos, k * RAMP_CHUNK), min(b, (k + 1) * RAMP_CHUNK)
            out[lo - a : hi - a] = c[lo - k * RAMP_CHUNK : hi - k * RAMP_CHUNK]
            pos = hi
        return out

    def __getitem__(self, key: int | slice) -> np.ndarray | np.float32:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.length)
            if step != 1:
                raise ValueError("a Ramp is read in steps of 1")
            return self.values(start, max(start, stop))
        i = int(key) + (self.length if key < 0 else 0)
        if not 0 <= i < self.length:
            raise IndexError(f"ramp index {key} out of range for length {self.length}")
        return self.values(i, i + 1)[0]

    def cut(self, length: int) -> Ramp:
        """The first `length` gains (an envelope cut by a newer segment)."""
        return Ramp(self.n, self.curve, self.fade_in, length=min(self.length, length), scale=self.scale, offset=self.offset)

    def scaled(self, v0: np.float32) -> Ramp:
        """``v0 * g`` (a fade-out from gain v0); only of an untransformed ramp."""
        return Ramp(self.n, self.curve, self.fade_in, length=self.length, scale=F32(v0))

    def shifted(self, v0: np.float32, d: np.float32) -> Ramp:
        """``v0 + d * g`` (a ramp from v0 to v0 + d); only of an untransformed ramp."""
        return Ramp(self.n, self.curve, self.fade_in, length=self.length, scale=F32(d), offset=F32(v0))


Table = np.ndarray | Ramp
EAGER_MAX = 1 << 20  # frames (21.8 s at 48 kHz, 4 MB): shorter tables are computed whole, once
_CHUNKS: dict[tuple[int, str, bool, int], np.ndarray] = {}
_CHUNKS_MAX = 256  # 4 MB of chunks shared by every ramp of the same shape


def _base_chunk(n: int, curve: str, fade_in: bool, k: int) -> np.ndarray:
    """Chunk k of ``fade_curve(n, curve, fade_in)``, with fade_curve's own arithmetic on those
    indices (fade-outs read the curve backwards); cached (read-only)."""
    key = (n, curve, fade_in, k)
    v = _CHUNKS.get(key)
    if v is None:
        i0, i1 = k * RAMP_CHUNK, min(n, (k + 1) * RAMP_CHUNK)
        idx = np.arange(i0, i1, dtype=np.float64) if fade_in else np.arange(n - 1 - i0, n - 1 - i1, -1, dtype=np.float64)
        t = (idx + 0.5) / n
        if curve == "linear":
            g = t
        elif curve == "equal-power":
            g = np.sin(0.5 * np.pi * t)
        else:
            g = t * t * (3.0 - 2.0 * t)
        v = g.astype(F32)
        v.setflags(write=False)
        if len(_CHUNKS) >= _CHUNKS_MAX:
            del _CHUNKS[next(iter(_CHUNKS))]
        _CHUNKS[key] = v
    return v


def fade_table(n: int, curve: str, fade_in: bool) -> Table:
    """The gains of an `n`-frame fade for an envelope: one array when short, else a `Ramp`
    computed as it plays (the same values either way)."""
    n = max(1, int(n))
    return ramp_table(n, curve, fade_in=fade_in) if n <= EAGER_MAX else Ramp(n, curve, fade_in)


class Envelope:
    """A per-sample gain: a constant `initial`, then segments of gains (arrays, or `Ramp`s
    computed as they are needed).

    A segment covers frames [start, start + len(values)); after it the gain holds `after`
    until the next segment. Adding a segment drops every segment that starts at or after it
    (a newer command replaces what was scheduled later) and cuts one that is still running.
    """

    __slots__ = ("initial", "segs", "_wide", "_wa")

    def __init__(self, initial: float = 1.0) -> None:
        self.initial = F32(initial)
        self.segs: list[tuple[int, int, Table, np.float32]] = []  # (start, end, values, after)
        self._wide: np.ndarray | None = None  # render_wide's cache: gains from frame _wa, per channel
        self._wa = 0

    def reset(self, initial: float) -> None:
        """Hold `initial` from now on, with no segments."""
        self.initial = F32(initial)
        self.segs = []
        self._wide = None

    def value_at(self, frame: int) -> np.float32:
        v = self.initial
        for start, end, values, after in self.segs:
            if frame < start:
                break
            v = F32(values[frame - start]) if frame < end else after
        return v

    def add(self, start: int, values: Table, after: float) -> None:
        """Place `values` (float32, or a `Ramp`) at absolute frame `start`; hold `after` once
        they end."""
        kept = []
        for s, e, v, a in self.segs:
            if s >= start:
                continue
            if e > start:
                e = start
                v = v.cut(e - s) if isinstance(v, Ramp) else v[: e - s]
            kept.append((s, e, v, a))
        vals = values if isinstance(values, Ramp) else np.ascontiguousarray(values, dtype=F32)
        kept.append((start, start + len(vals), vals, F32(after)))
        self.segs = kept
        self._wide = None

    def copy(self) -> Envelope:
        """The same gains from here on, as an envelope of its own (segments are shared, never
        written: later edits to either one add or cut segments in its own list)."""
        env = Envelope(float(self.initial))
        env.segs = list(self.segs)
        return env

    def ramp(self, start: int, n: int, target: float, table: Table) -> None:
        """Move from the value at `start` to `target` along `table` (0 -> 1, float32, length n)."""
        v0 = self.value_at(start)
        if F32(target) == v0:
            # v0 + 0 * table is v0 throughout: hold it (an empty segment) so blocks stay constant
            self.add(start, np.zeros(0, F32), target)
            return
        d = F32(target) - v0
        if isinstance(table, Ramp):
            self.add(start, table.cut(n).shifted(v0, d), target)
        else:
            self.add(start, (v0 + d * table[:n]).astype(F32), target)

    def scale_from(self, start: int, table: Table, after: float = 0.0) -> None:
        """Multiply the gain from `start` on by `table` (a fade-out), then hold `after`."""
        v0 = self.value_at(start)
        self.add(start, table.scaled(v0) if isinstance(table, Ramp) else (v0 * table).astype(F32), after)

    def constant_over(self, a: int, b: int) -> np.float32 | None:
        """The gain if it is constant over [a, b), else None."""
        v = self.initial
        for s, e, values, after in self.segs:
            if e <= a:
                v = after
                continue
            if s >= b:
                break
            return None
        return v

    def render(self, a: int, b: int) -> np.float32 | np.ndarray:
        """The gain over output frames [a, b): a float32 scalar when constant, else an array
        (a read-only view of a segment when [a, b) lies inside one: do not write to it)."""
        c = self.constant_over(a, b)
        if c is not None:
            return c
        for s, e, values, _ in self.segs:
            if s <= a and b <= e:  # inside one segment: a view, no copy
                return values[a - s : b - s]
            if e > a:
                break
        out = np.empty(b - a, dtype=F32)
        pos = a
        v = self.initial
        for s, e, values, after in self.segs:
            if e <= a:
                v = after
                continue
            if s >= b:
                break
            if s > pos:
                out[pos - a : s - a] = v
                pos = s
            hi = min(e, b)
            out[pos - a : hi - a] = values[pos - s : hi - s]
            pos = hi
            v = after
        if pos < b:
            out[pos - a :] = v
        return out

    def render_wide(self, a: int, b: int, channels: int) -> np.float32 | np.ndarray:
        """`render(a, b)` with an array expanded to (b - a, channels) (the same values in every
        column: a same-shape multiply is ~3x faster than broadcasting (n, 1)). Expanded
        `WIDE_FRAMES` at a time and cached until a segment is added, so a block usually gets a
        read-only view. Do not write to it."""
        c = self.constant_over(a, b)
        if c is not None:
            return c
        w = self._wide
        if w is not None and self._wa <= a and b <= self._wa + w.shape[0] and w.shape[1] == channels:
            return w[a - self._wa : b - self._wa]
        n = max(b - a, WIDE_FRAMES)
        v = self.render(a, a + n)
        w = np.empty((n, channels), F32)
        for ch in range(channels):
            w[:, ch] = v
        w.setflags(write=False)
        self._wide, self._wa = w, a
        return w[: b - a]

    def prune(self, frame: int) -> None:
        """Forget segments that ended before `frame` (keeps lookups short)."""
        while self.segs and self.segs[0][1] <= frame:
            self.initial = self.segs[0][3]
            self.segs.pop(0)


class Fold:
    """The first frames of a loop cycle (`head`) with the ring of the cycle before (`ring`'s
    frames after its exit, ending in the same short fade a ring clip gets) added in: what a
    steady loop plays over the head of every repeat, mixed as one clip instead of two. `layers`
    and `mix` cover the ring's length only; the rest of the cycle reads `head` itself."""

    __slots__ = ("head", "ring", "frames", "layers", "mix")

    def __init__(self, ring: Stem, head: Stem, end: np.ndarray) -> None:
        e = ring.grid.exit
        t = ring.grid.frames - e
        self.head, self.ring, self.frames = head, ring, t
        fade = np.ones((t, 1), F32)
        if t > len(end):
            fade[t - len(end) :, 0] = end
        self.layers: dict[str, np.ndarray] = {}
        mix: np.ndarray | None = None
        for name, h in head.layers.items():
            v = h[:t] + ring.layers[name][e:] * fade
            v.setflags(write=False)
            self.layers[name] = v
            mix = v.copy() if mix is None else np.add(mix, v, out=mix)  # the float32 sum in order, as a stem's mix
        assert mix is not None
        mix.setflags(write=False)
        self.mix = mix

    @staticmethod
    def fits(ring: Stem, head: Stem) -> bool:
        """Whether `ring`'s tail can be folded into `head`: it ends inside the head's cycle and
        the two have the same layers and channels."""
        t = ring.grid.frames - ring.grid.exit
        return (0 < t <= head.grid.exit and tuple(ring.layers) == tuple(head.layers)
                and ring.mix.shape[1:] == head.mix.shape[1:])


_FOLDS: dict[tuple[int, int, int], Fold] = {}
_FOLDS_MAX = 8  # each holds a ring's frames for every layer and the mix


def fold(ring: Stem, head: Stem, end: np.ndarray) -> Fold | None:
    """`Fold(ring, head, end)`, cached; None when it does not fit (see `Fold.fits`)."""
    key = (id(ring), id(head), len(end))
    f = _FOLDS.get(key)
    if f is not None and f.ring is ring and f.head is head:
        return f
    if not Fold.fits(ring, head):
        return None
    if len(_FOLDS) >= _FOLDS_MAX:
        del _FOLDS[next(iter(_FOLDS))]
    f = _FOLDS[key] = Fold(ring, head, end)
    return f


_MISS = object()
_PREFIX_AFTER = 4  # blocks a set of constant layer gains must hold before its sum is cached
_PREFIXES: dict[tuple, tuple[Stem | Fold, np.ndarray | None]] = {}
_PREFIXES_MAX = 16  # each is a whole stem's frames


def layer_prefix(stem: Stem | Fold, gains: tuple) -> np.ndarray | None:
    """Float32 sum of the stem's first len(gains) layers at constant float32 `gains`, summed
    exactly as `Clip.mix_into` sums them (zero gains skipped, unity gains not multiplied);
    None when every gain is zero. Cached (a few whole-stem arrays)."""
    key = (id(stem), gains)
    hit = _PREFIXES.get(key)
    if hit is not None and hit[0] is stem:
        return hit[1]
    acc: np.ndarray | None = None
    owned = False  # acc is our own array (not a stem's layer, which must not be written)
    for g, arr in zip(gains, stem.layers.values()):
        if g == 0:
            continue
        part = arr if g == ONE else np.multiply(arr, g)
        if acc is None:
            acc, owned = part, part is not arr
        elif not owned:
            acc, owned = acc + part, True
        else:
            acc += part
    if len(_PREFIXES) >= _PREFIXES_MAX:
        del _PREFIXES[next(iter(_PREFIXES))]
    _PREFIXES[key] = (stem, acc)
    return acc


def layer_info(gains: dict, names: tuple) -> tuple[list, int, bool, tuple]:
    """What a block's `gains` mean for a stem with layers `names`: each layer's gain, how many
    leading layers are at constant gains (and those gains), and whether every layer is at unity."""
    lg = [gains.get(name, ONE) for name in names]
    k = 0
    unity = True
    for g in lg:
        if type(g) is not np.float32:
            unity = False
            break
        if g != ONE:
            unity = False
        k += 1
    return lg, k, unity, tuple(lg[:k])


class Clip:
    """One stem's audio frames [a0, a1) playing from output frame `out0`, under an envelope.

    `layered` clips follow the global layer gains (music); others (stingers) do not. `gain` is a
    fixed linear gain (a stinger's gain_db). `tail` marks the ring of a finished loop cycle (what
    sounds after its exit), which a tempo switch hands on to the new take instead of fading. A
    clip of a `Fold` plays a cycle's head with the previous cycle's ring in it.
    """

    __slots__ = ("stem", "a0", "a1", "out0", "out1", "env", "layered", "gain", "names", "arrays", "total", "owner",
                 "pkey", "phits", "pval", "tail")

    def __init__(self, stem: Stem | Fold, a0: int, a1: int, out0: int, *, env: Envelope | None = None,
                 layered: bool = True, gain: float = 1.0, owner: object = None, tail: bool = False) -> None:
        self.stem = stem
        self.a0, self.a1 = a0, a1
        self.out0 = out0
        self.out1 = out0 + (a1 - a0)
        self.env = env if env is not None else Envelope(1.0)
        self.layered = layered
        self.gain = F32(gain)
        self.names = tuple(stem.layers)
        self.arrays = tuple(stem.layers.values())
        # every layer at unity: the stem's mix, which is the float32 sum of its layers in order
        self.total = stem.mix
        self.owner = owner
        self.tail = tail
        self.pkey: tuple = ()  # the leading layers' constant gains in the last block, and
        self.phits = 0  # for how many blocks in a row, and their partial sum (see _prefix)
        self.pval: np.ndarray | None | object = _MISS

    def _prefix(self, key: tuple) -> np.ndarray | None | object:
        """The partial sum of the leading layers at their constant gains `key` over the whole
        stem (None: all at zero), or `_MISS` until those gains have held for `_PREFIX_AFTER`
        blocks (a short-lived gain is not worth a pass over the stem)."""
        if key != self.pkey:
            self.pkey, self.phits, self.pval = key, 1, _MISS
            return _MISS
        if self.pval is _MISS:
            self.phits += 1
            if self.phits >= _PREFIX_AFTER:
                self.pval = layer_prefix(self.stem, key)
        return self.pval

    def mix_into(self, out: np.ndarray, a: int, b: int, gains: dict, tmp: np.ndarray, tmp2: np.ndarray,
                 tmp3: np.ndarray, infos: dict) -> None:
        """Add this clip's output frames [a, b) ∩ its span into `out` (rows 0.. = frame a).

        `gains` maps a layer to a float32 scalar or a (b - a, channels) float32 array; `tmp*`
        are scratch buffers of at least b - a frames; `infos` (one dict per block, shared by
        the block's clips) caches what `gains` means for each set of layer names.
        """
        o0 = a if a > self.out0 else self.out0
        o1 = b if b < self.out1 else self.out1
        if o0 >= o1:
            return
        n = o1 - o0
        s0 = self.a0 + (o0 - self.out0)
        dst = out[o0 - a : o1 - a]
        # 1. the layers at their gains (identical values whichever path is taken)
        src: np.ndarray | None = None
        if self.layered and gains:
            info = infos.get(self.names)
            if info is None:
                info = infos[self.names] = layer_info(gains, self.names)
            lg, k, unity, key = info
            if unity:
                src = self.total[s0 : s0 + n]
            else:
                # The leading constant-gain layers' partial sum, precomputed over the stem once
                # the gains have held for a few blocks: the same float32 operations in the same
                # order, so the same bits as summing them here.
                pre = self._prefix(key) if k else _MISS
                acc = tmp[:n]
                pending = pre[s0 : s0 + n] if isinstance(pre, np.ndarray) else None
                have = False
                for i in range(0 if pre is _MISS else k, len(lg)):
                    g, arr = lg[i], self.arrays[i]
                    if type(g) is np.float32:
                        if g == 0:
                            continue
                        part = arr[s0 : s0 + n] if g == ONE else np.multiply(arr[s0 : s0 + n], g, out=tmp2[:n])
                    else:  # g: the layer's gain expanded to (block frames, channels)
                        part = np.multiply(arr[s0 : s0 + n], g[o0 - a : o1 - a], out=tmp2[:n])
                    if pending is not None:
                        np.add(pending, part, out=acc)
                        pending = None
                        have = True
                    elif not have:
                        acc[...] = part
                        have = True
                    else:
                        acc += part
                if pending is not None:
                    src = pending
                elif have:
                    src = acc
                else:
                    return
        else:
            src = self.total[s0 : s0 + n]
        # 2. the clip's envelope and fixed gain
        env = self.env.render_wide(o0, o1, dst.shape[1])
        if type(env) is np.float32:
            g = env * self.gain
            if g == ONE:
                dst += src
            elif g != 0:
                dst += np.multiply(src, g, out=tmp2[:n])
        else:
            e2 = env if self.gain == ONE else np.multiply(env, self.gain, out=tmp3[:n])
            dst += np.multiply(src, e2, out=tmp2[:n])
