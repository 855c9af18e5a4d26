"""The playhead: runs scheduled actions at their frames and mixes what is sounding.

`Player` holds everything that moves while a session plays (the music clock, the schedule, the
tracks and clips sounding, the markers, the parameter automation, the transport and the
limiter); the `Sequencer` holds what was defined and decided (graph, stems, the plans) and
turns commands into actions here. Mixing runs `lookahead` frames ahead of the output, so the
limiter can ramp its gain towards a peak before it arrives.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from soundtrack.graph import Graph
from soundtrack.sequencer.actions import (
    Action,
    Cycle,
    Edit,
    Emit,
    Schedule,
    StartMain,
    StartTrack,
    SwitchTempo,
)
from soundtrack.sequencer.automation import LayerGains
from soundtrack.sequencer.clips import F32, Clip, Envelope, Fold, Table, fade_table, fold
from soundtrack.sequencer.grid import Marker, SpanGrid
from soundtrack.sequencer.limiter import Limiter
from soundtrack.sequencer.resolver import TransitionPlan, min_ramp_frames
from soundtrack.sequencer.tracks import Rec, Track
from soundtrack.sequencer.transport import Transport
from soundtrack.stem import Stem

LIMITER_LOOKAHEAD_SECONDS = Fraction(1, 500)  # 2 ms: the safety limiter ramps in, never steps
TEMPO_XFADE_SECONDS = Fraction(1, 20)  # 50 ms: stretched and unstretched takes are aligned on the bar


class Player:
    """The moving part of one session (see the module docstring)."""

    def __init__(self, graph: Graph, *, sample_rate: int, seed: int, ceiling_db: float) -> None:
        self.sample_rate = sample_rate
        self.rng = np.random.default_rng(seed)
        self.frame = 0  # music frames output so far: the music clock
        self.mixed = 0  # music frames mixed so far (the look-ahead runs ahead of `frame`)
        self.schedule = Schedule()
        self.clips: list[Clip] = []
        self.tracks: list[Track] = []
        self.main: dict[str, Track] = {}  # each state's current main track
        self.recs: list[Rec] = []
        self.state: str | None = None  # the state playing at the mix position
        self.markers: list[Marker] = []
        self.grid = SpanGrid()
        self.layers = LayerGains(graph)  # layers named by no param stay at 1
        self.transport = Transport()  # master volume, pause/resume, the final fade-out
        self.limiter = Limiter(ceiling_db, lookahead=max(1, int(round(LIMITER_LOOKAHEAD_SECONDS * sample_rate))))
        self._tables: dict[tuple, Table] = {}  # ramps of fixed lengths (see table)
        self._ahead = np.zeros((0, 0), F32)  # mixed frames [frame, mixed), not yet output
        self._work = np.zeros((0, 0), F32)
        self._tmp = np.zeros((0, 1), F32)
        self._tmp2 = np.zeros((0, 1), F32)
        self._tmp3 = np.zeros((0, 1), F32)

    @property
    def earliest(self) -> int:
        """The first frame a command given now can act on (nothing before it is still open)."""
        return max(self.frame, self.mixed)

    def table(self, n: int, curve: str, fade_in: bool) -> Table:
        """A ramp of a length fixed by the graph or the sample rate, cached (a client's own
        lengths, such as set_param's ramp, would grow the cache without bound: use fade_table)."""
        key = (n, curve, fade_in)
        t = self._tables.get(key)
        if t is None:
            t = self._tables[key] = fade_table(n, curve, fade_in)
        return t

    def pop_markers(self) -> list[Marker]:
        """The markers of the frames output so far; those mixed ahead wait for their render."""
        if not any(m.frame >= self.frame for m in self.markers):
            out, self.markers = self.markers, []
            return out
        out = [m for m in self.markers if m.frame < self.frame]
        self.markers = [m for m in self.markers if m.frame >= self.frame]
        return out

    # -- building voices ------------------------------------------------------------------------
    def oneshot(self, track: Track, stem: Stem, out0: int, a0: int, *, layered: bool, gain: float) -> None:
        """Prepare a one-shot clip (not yet playing): 1 ms ramps at both ends."""
        r = min_ramp_frames(self.sample_rate)
        clip = Clip(stem, a0, stem.grid.frames, out0, env=track.env, layered=layered, gain=gain, owner=track)
        track.env.add(out0, self.table(r, "linear", True), 1.0)
        end = clip.out1
        if end - r > out0 + r:
            track.env.scale_from(end - r, self.table(r, "linear", False), 0.0)
        track.clips.append(clip)

    def play_cycle(self, track: Track, frame: int, a0: int, *, ring: Stem | None = None) -> None:
        """Play the track's current loop from frame `a0` at output frame `frame`. `ring`: the
        stem of the cycle before, whose tail rings on under this cycle's head, as far into it
        as `a0` (folded into the head as one clip where it fits, else a clip of its own)."""
        stem = track.stems[track.variant]
        f = None
        if ring is not None and a0 < ring.grid.frames - ring.grid.exit:  # some of the ring is left
            f = self._fold(ring, stem)
            if f is None:
                self.ring(track, ring, frame, ring.grid.exit + a0)
        if f is not None and f.frames < stem.grid.exit:
            # the rest of the cycle first: add_clip drops clips ending before a new one starts
            rest = Clip(stem, f.frames, stem.grid.exit, frame + f.frames - a0, env=track.env, owner=track)
            track.add_clip(rest)
            self.clips.append(rest)
        clip = Clip(f if f is not None else stem, a0, f.frames if f is not None else stem.grid.exit, frame,
                    env=track.env, owner=track)
        track.add_clip(clip)
        self.clips.append(clip)
        self.markers.append(Marker("segment", frame, self.grid.label_at(frame), track.state,
                                   {"name": track.state, "role": "main", "variant": track.variant, "bpm": str(track.bpm), "offset": a0}))
        self.schedule.at(frame + stem.grid.exit - a0, Cycle(track))

    def _fold(self, ring: Stem, head: Stem) -> Fold | None:
        end = self.table(min_ramp_frames(self.sample_rate), "linear", False)
        return fold(ring, head, np.asarray(end[:], dtype=F32))

    def ring(self, track: Track, stem: Stem, frame: int, a0: int | None = None, env: Envelope | None = None) -> None:
        """Let `stem`'s tail ring from `frame` (its exit; from tail frame `a0` when given), under
        a copy of the track's envelope (or `env`), with its own 1 ms end."""
        a0 = stem.grid.exit if a0 is None else a0
        if stem.grid.frames <= a0:
            return
        if env is None:
            env = track.env.copy()
        clip = Clip(stem, a0, stem.grid.frames, frame, env=env, owner=track, tail=True)
        r = min_ramp_frames(self.sample_rate)
        if clip.out1 - r > frame:
            env.scale_from(clip.out1 - r, self.table(r, "linear", False), 0.0)
        track.add_clip(clip)
        self.clips.append(clip)

    def _unfold(self, track: Track, frame: int) -> list[tuple[Stem, int, Envelope]]:
        """Split the track's folded heads sounding at `frame` there: the head goes on alone and
        what is left of each ring is returned (stem, tail frame, a copy of the envelope it had)
        to ring on as a clip of its own (a tempo switch hands rings on to the new take)."""
        out = []
        for c in list(track.clips):
            f = c.stem
            if not isinstance(f, Fold) or c.out1 <= frame:
                continue
            at = max(frame, c.out0)
            out.append((f.ring, f.ring.grid.exit + (at - c.out0), track.env.copy()))
            c.out1 = at
            c.a1 = c.a0 + (at - c.out0)
            rest = Clip(f.head, c.a0 + (at - c.out0), f.frames, at, env=c.env, owner=track)
            track.add_clip(rest)
            self.clips.append(rest)
        return out

    # -- running actions ------------------------------------------------------------------------
    def run(self, action: Action, frame: int) -> None:
        match action:
            case Emit(marker=marker, rec=rec):
                if rec is None or not rec.dead_at(frame):
                    self.markers.append(marker)
            case StartTrack(rec=rec, track=track):
                if rec is not None and rec.dead_at(frame):
                    return
                self.tracks.append(track)
                self.clips.extend(track.clips)
            case Edit(rec=rec, plan=plan):
                self._edit(rec, plan, frame)
            case StartMain(rec=rec, state=state, variants=variants, fade=fade, curve=curve):
                if not rec.dead_at(frame):
                    self._start_main(rec, state, variants, frame, fade, curve)
            case Cycle(track=track):
                self._cycle(track, frame)
            case SwitchTempo():
                self._switch_tempo(action, frame)

    def _edit(self, rec: Rec, plan: TransitionPlan, frame: int) -> None:
        if rec.cancelled:
            return
        table = self.table(plan.fade_frames, plan.curve, False)
        for r in self.recs:
            if r.id < rec.id and r.superseded is None:
                r.superseded = frame
        for tr in self.tracks:
            if tr.music and tr.rec != rec.id:
                tr.stop(frame, table)
        self.tracks = [tr for tr in self.tracks if not tr.finished(frame)]
        prev = self.state
        self.state = plan.target
        if plan.event is not None or prev is not None:  # on the outgoing music's grid, as the plan
            self.markers.append(Marker("transition", frame, plan.position, prev, {
                "event": plan.event, "from": prev, "to": plan.target, "sync": plan.sync,
                "fade_frames": plan.fade_frames, "curve": plan.curve, "main_frame": plan.main_frame}))
        # the new state, with the label of the music that begins here (its intro's "pre2:1")
        span = self.grid.at(frame)
        here = span.label(frame) if span is not None and span.state == plan.target else "1:1"
        self.markers.append(Marker("state", frame, here, plan.target, {"from": prev}))

    def _start_main(self, rec: Rec, state: str, variants: tuple[Stem, ...], frame: int, fade: int, curve: str) -> None:
        track = Track(rec.id, state, "main")
        track.stems = list(variants)
        track.bpm = variants[0].grid.bpm
        track.variant = int(self.rng.integers(len(variants))) if len(variants) > 1 else 0
        if fade > 0:
            track.env.add(frame, self.table(fade, curve, True), 1.0)
        else:
            track.env.add(frame, self.table(min_ramp_frames(self.sample_rate), "linear", True), 1.0)
        self.tracks.append(track)
        self.main[state] = track
        self.play_cycle(track, frame, 0)

    def _cycle(self, track: Track, frame: int) -> None:
        """A main loop cycle ended at `frame`: loop, change variant, or ring out if stopped."""
        stem = track.stems[track.variant]
        if track.stopped_at is not None:
            # stopped on this loop's end: its tail rings instead of a new cycle; stopped earlier:
            # it keeps looping under the fade until the fade ends
            if frame == track.stopped_at:
                self.ring(track, stem, frame)
                return
            if track.fade is None or frame >= track.stopped_at + len(track.fade):
                return
        n = len(track.stems)
        if n > 1:
            nxt = int(self.rng.integers(n - 1))
            nxt = nxt + 1 if nxt >= track.variant else nxt  # never the same one twice in a row
            track.variant = nxt
        self.play_cycle(track, frame, 0, ring=stem)  # this cycle's ring goes on under the next, whichever it is

    def _switch_tempo(self, act: SwitchTempo, frame: int) -> None:
        old = self.main.get(act.state)
        if old is None or old.stopped_at is not None or act.rec.dead_at(frame):
            return
        n = max(1, int(round(TEMPO_XFADE_SECONDS * self.sample_rate)))
        # the rings of cycles already played go on under the new take (and stop with it later);
        # only the old take's own cycle crossfades out
        rings = [c for c in old.clips if c.tail and c.out1 > frame]
        old.clips = [c for c in old.clips if not (c.tail and c.out1 > frame)]
        folded = self._unfold(old, frame)
        old.stop(frame, self.table(n, "equal-power", False))
        track = Track(old.rec, act.state, "main")  # later edits stop it like the take it replaces
        track.clips = rings
        for ring, a0, env in folded:
            self.ring(track, ring, frame, a0, env)
        track.stems = list(act.stems)
        track.bpm = act.bpm
        track.variant = old.variant
        g = act.stems[track.variant].grid
        within = act.beat % (g.bars * g.meter.beats)
        a0 = g.beat_grid.beat_frame(within)
        track.env.add(frame, self.table(n, "equal-power", True), 1.0)
        self.tracks.append(track)
        self.main[act.state] = track
        self.markers.append(Marker("tempo", frame, act.position, act.state, {"bpm": str(act.bpm)}))
        self.play_cycle(track, frame, a0)

    # -- rendering ------------------------------------------------------------------------------
    def render(self, out: np.ndarray) -> None:
        """Fill `out` (frames, channels float32) with the next output: music, or paused silence."""
        frames = out.shape[0]
        pos = 0
        tr = self.transport
        while pos < frames:
            n = tr.music_frames(self.frame, frames - pos)
            if n == 0:
                out[pos:] = 0.0
                break
            self._render_music(out[pos : pos + n])
            pos += n
            tr.reached(self.frame)
        tr.output += frames

    def _render_music(self, dst: np.ndarray) -> None:
        """Fill `dst` with the next music frames: mixed (`lookahead` ahead), limited, faded."""
        n, ch = dst.shape
        look = self.limiter.lookahead
        start = self.frame
        end = start + n
        if self._work.shape[0] < n + look or self._work.shape[1] != ch:
            self._work = np.zeros((max(n + look, 1024 + look), ch), F32)
        work = self._work[: n + look]  # rows 0.. = frame `start`
        have = self._ahead.shape[0] if self._ahead.shape[1] == ch else 0
        work[have:] = 0.0
        if have:
            work[:have] = self._ahead
        self._mix(work, start, start + have, end + look)
        silent = self.transport.silent_from
        heard = n if silent is None else max(0, min(end, silent) - start)
        if heard > 0:  # the limiter has no say over silence: nothing heard is left to limit
            self.limiter.process(work[:heard], work[heard : heard + look], joined=work[: heard + look])
        self.transport.apply_gain(work[:n], start, end)
        dst[...] = work[:n]
        self._ahead = work[n:].copy()
        self.frame = end
        self.transport.prune(start)

    def _mix(self, work: np.ndarray, origin: int, a: int, end: int) -> None:
        """Mix frames [a, end) into `work` (row 0 = frame `origin`), running every action due on
        the way; beat and bar markers are emitted as the frames are mixed."""
        ch = work.shape[1]
        if self._tmp.shape[0] < end - a or self._tmp.shape[1] != ch:
            n = max(end - a, 1024)
            self._tmp = np.zeros((n, ch), F32)
            self._tmp2 = np.zeros((n, ch), F32)
            self._tmp3 = np.zeros((n, ch), F32)
        silent = self.transport.silent_from  # after a fade-out nothing is heard: no clip is mixed
        if silent is None:
            silent = end
        sched = self.schedule
        while True:
            for action in sched.due(a):
                self.run(action, a)
            nxt = sched.next_frame()
            b = nxt if nxt is not None and nxt < end else end
            if b > a:
                ended = False
                if a < silent:
                    gains = self.layers.block(a, b, ch)
                    block = work[a - origin : b - origin]
                    infos: dict = {}
                    for clip in self.clips:
                        if clip.out0 < b:  # (a cycle's rest waits behind its folded head)
                            clip.mix_into(block, a, b, gains, self._tmp, self._tmp2, self._tmp3, infos)
                            ended = ended or clip.out1 <= b
                    self.transport.apply_volume(block, a, b)
                else:
                    ended = any(c.out1 <= b for c in self.clips)
                self.grid.markers(a, b, self.markers)
                a = b
                if ended:
                    self.clips = [c for c in self.clips if c.out1 > a]
            if a >= end:
                break
        self.mixed = end
        self.layers.prune(end)
