"""Save and restore a session's musical position: a game saves, reloads, and hears the same music.

`take(seq)` describes the playing state at the sequencer's `earliest_frame` as a JSON- and
msgpack-safe dict: the state, the main loop's variant, tempo take and offset into its cycle, the
tails of earlier cycles still ringing, the beat grid, parameter values, master volume, the random
generator's state (so later variant choices are the same) and the limiter's. `restore(seq, snap)`
starts a fresh sequencer there instead of `start()`: when the snapshot is `exact` (nothing but the
state's loop was sounding: no transition, stinger, ramp or tail of another segment in flight),
the output after its short fade-in is exactly what the saved session played from that frame on.
Otherwise the state's loop comes back at the same position and the in-flight parts are dropped.
Frames restart at 0 in the restored session.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

from soundtrack.errors import SequencerError
from soundtrack.sequencer.actions import LIVE
from soundtrack.sequencer.clips import Envelope, Fold
from soundtrack.sequencer.grid import Span
from soundtrack.sequencer.resolver import Playhead
from soundtrack.sequencer.tracks import Rec, Track
from soundtrack.sequencer.transport import MAX_VOLUME_DB, MIN_VOLUME_DB, volume_gain
from soundtrack.stem import Stem
from soundtrack.timing import BeatGrid, Meter

if TYPE_CHECKING:
    from soundtrack.sequencer.engine import Sequencer

FORMAT = "soundtrack-snapshot"
VERSION = 1


def _tempo(t: Fraction | None) -> str | None:
    return None if t is None else str(t)


def _variant_of(track: Track, stem: Any) -> int:
    for i, s in enumerate(track.stems):
        if s is stem:
            return i
    raise SequencerError("snapshot: a ringing cycle is not one of its track's loops")


def take(seq: Sequencer) -> dict[str, Any]:
    """The session's position at `seq.earliest_frame` (see the module docstring)."""
    seq._require_started()
    p = seq.player
    state = p.state
    track = p.main.get(state) if state is not None else None
    if state is None or track is None or track.stopped_at is not None or seq._head is None:
        raise SequencerError("snapshot: no state's loop is playing yet (try once the first main loop has started)")
    f = seq.earliest_frame
    cycle = next((c for c in reversed(track.clips) if not c.tail and c.out0 <= f < c.out1), None)
    if cycle is None:
        raise SequencerError("snapshot: the state's loop is between cycles; try a frame later")
    main_tempo = seq._tempo_key(state, track.bpm) if track.bpm is not None else None
    rings = []
    for c in track.clips:
        if not c.out0 <= f < c.out1:
            continue
        if c.tail:
            ring, at = c.stem, c.a0 + (f - c.out0)
        elif isinstance(c.stem, Fold):  # a head with the ring of the cycle before folded in
            ring, at = c.stem.ring, c.stem.ring.grid.exit + (f - c.out0)
        else:
            continue
        assert isinstance(ring, Stem)
        owner_tempo = seq._tempo_key(state, ring.grid.bpm)
        rings.append({"variant": _variant_of(track, ring) if ring in track.stems else _find(seq, state, ring),
                      "tempo": _tempo(owner_tempo), "offset": int(at)})
    others = [tr for tr in p.tracks if tr is not track and any(c.out1 > f for c in tr.clips)]
    pending = [a for a in p.schedule.pending() if isinstance(a, LIVE)]
    ramping = any(seg[1] > f for envs in p.layers.layer_envs.values() for e in envs for seg in e.segs)
    stingers = [c for c in p.clips if not c.layered and c.out1 > f]
    h = seq._head
    rng = p.rng.bit_generator.state
    return {
        "format": FORMAT,
        "version": VERSION,
        "graph": seq.graph.name,
        "sample_rate": seq.sample_rate,
        "state": state,
        "exact": not (others or pending or ramping or stingers or len(rings) > 4),
        "main": {"variant": int(track.variant), "tempo": _tempo(main_tempo), "offset": int(cycle.a0 + (f - cycle.out0))},
        "rings": rings,
        "head": {"bpm": str(h.grid.bpm), "meter": str(h.grid.meter), "origin": int(h.grid.origin - f),
                 "origin_beat": int(h.origin_beat), "main_beats": int(h.main_beats)},
        "params": {k: float(v) for k, v in p.layers.values.items()},
        "volume_db": float(p.transport.volume_db),
        "tempo_request": _tempo(seq._tempo_request),
        # the generator's 128-bit words as strings: msgpack integers stop at 64 bits
        "rng": {"bit_generator": rng["bit_generator"], "state": str(rng["state"]["state"]), "inc": str(rng["state"]["inc"]),
                "has_uint32": int(rng["has_uint32"]), "uinteger": int(rng["uinteger"])},
        "limiter": int(p.limiter.state),
        "session_bars": int(p.grid.session_bars),
    }


def _find(seq: Sequencer, state: str, stem: Any) -> int:
    """The variant number of a ringing cycle of another tempo take (handed on by a tempo switch)."""
    for key, s in seq._stems.items():
        if s is stem and key[0] == state and key[1] == "main":
            return int(key[2])
    raise SequencerError("snapshot: a ringing cycle's loop is unknown")


def _check(snap: Any, seq: Sequencer) -> dict[str, Any]:
    if not isinstance(snap, dict) or snap.get("format") != FORMAT or snap.get("version") != VERSION:
        raise SequencerError(f"restore: not a {FORMAT} version {VERSION} (got {str(snap)[:80]!r})")
    if snap.get("graph") != seq.graph.name or snap.get("sample_rate") != seq.sample_rate:
        raise SequencerError(f"restore: the snapshot is of graph {snap.get('graph')!r} at {snap.get('sample_rate')} Hz; "
                             f"this session plays {seq.graph.name!r} at {seq.sample_rate} Hz")
    state = snap.get("state")
    if state not in seq.graph.states:
        raise SequencerError(f"restore: state {state!r} is not in graph {seq.graph.name!r}")
    return snap


def restore(seq: Sequencer, snap: dict[str, Any], fade_frames: int) -> None:
    """Start `seq` (fresh, not started) at the snapshot's position, fading in over `fade_frames`."""
    if seq._started:
        raise SequencerError("restore: the sequencer is already started; restore into a new one")
    p = seq.player
    _check(snap, seq)
    try:
        state = snap["state"]
        sdef = seq.graph.states[state]
        main, head = snap["main"], snap["head"]
        variant = int(main["variant"])
        if not 0 <= variant < sdef.variants:
            raise SequencerError(f"restore: variant {variant} of state {state!r} does not exist")
        tempo = None if main["tempo"] is None else Fraction(main["tempo"])
        if tempo is not None and tempo not in sdef.tempi:
            raise SequencerError(f"restore: state {state!r} has no {tempo} bpm take")
        seq._tempo_request = None if snap["tempo_request"] is None else Fraction(snap["tempo_request"])
        r = snap["rng"]
        p.rng.bit_generator.state = {"bit_generator": r["bit_generator"],
                                        "state": {"state": int(r["state"]), "inc": int(r["inc"])},
                                        "has_uint32": int(r["has_uint32"]), "uinteger": int(r["uinteger"])}
        for name, value in snap["params"].items():
            pdef = seq.graph.params.get(name)
            if pdef is None or not pdef.minimum <= float(value) <= pdef.maximum:
                raise SequencerError(f"restore: param {name}={value!r} is not a param of this graph or out of range")
            p.layers.set(pdef, float(value))
        db = float(snap["volume_db"])
        if not MIN_VOLUME_DB <= db <= MAX_VOLUME_DB:
            raise SequencerError(f"restore: volume_db={db:g} is out of range")
        p.transport.volume = Envelope(volume_gain(db))
        p.transport.volume_db = db
        p.limiter.state = max(0, int(snap["limiter"]))
        stems = [seq._stem(state, "main", v, tempo=tempo) for v in range(sdef.variants)]
        offset = int(main["offset"])
        g = stems[variant].grid
        if not 0 <= offset < g.exit:
            raise SequencerError(f"restore: offset {offset} is outside the loop (0..{g.exit - 1})")
        grid = BeatGrid(seq.sample_rate, Fraction(head["bpm"]), Meter.parse(head["meter"]), int(head["origin"]))
        playhead = Playhead(state, grid, int(head["origin_beat"]), int(head["main_beats"]), entry=min(0, int(head["origin"])))
        rings = []
        for ring in snap.get("rings", []):
            rv = int(ring["variant"])
            if not 0 <= rv < sdef.variants:
                raise SequencerError(f"restore: a ringing cycle's variant {rv} of state {state!r} does not exist")
            rt = None if ring["tempo"] is None else Fraction(ring["tempo"])
            if rt is not None and rt not in sdef.tempi:
                raise SequencerError(f"restore: state {state!r} has no {rt} bpm take")
            rings.append((rv, rt, int(ring["offset"])))
        session_bars = int(snap.get("session_bars", 0))
    except SequencerError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as e:
        raise SequencerError(f"restore: malformed snapshot ({type(e).__name__}: {str(e)[:80]})") from None
    seq._started = True
    rec = Rec(next(seq._rec_ids), "start", 0, None)
    p.recs.append(rec)
    seq._last = None
    track = Track(rec.id, state, "main")
    track.stems = stems
    track.bpm = g.bpm
    track.variant = variant
    folded = None  # the ring of the cycle just before, in step with this one: folded into its head
    for rv, rt, a0 in rings:
        rs = seq._stem(state, "main", rv, tempo=rt)
        if rs.grid.exit <= a0 < rs.grid.frames:  # a frame of that cycle's tail
            if folded is None and a0 - rs.grid.exit == offset:
                folded = rs
            else:
                p.ring(track, rs, 0, a0, Envelope(1.0))
    p.tracks.append(track)
    p.main[state] = track
    p.state = state
    seq._head = playhead
    p.grid.session_bars = session_bars
    p.grid.add(Span(0, rec.id, state, "main", state, playhead.grid, playhead.origin_beat))
    p.transport.gain = Envelope(0.0)
    p.transport.gain.ramp(0, fade_frames, 1.0, p.table(fade_frames, "equal-power", True))
    p.play_cycle(track, 0, offset, ring=folded)
