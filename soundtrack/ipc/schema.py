"""The protocol, declared once: every method's parameters, result fields and errors, every
notification's fields, every error code and every named type.

The server reads its parameter order from here (`METHODS[name].param_names`); the tests check
every result and notification the server sends against these declarations
(`soundtrack.ipc.schemadoc.check`); docs/protocol.md's tables and
integrations/node/protocol.d.ts are generated from here (`python -m soundtrack.ipc.schemadoc
--write`) and a test fails when they differ from what this module generates.

Types are written in a small TypeScript-like language, so the .d.ts is nearly a copy:
``int``, ``number``, ``string``, ``bool``, ``bin`` (a msgpack bin), ``null``, ``unknown``,
``'literal'``, ``T[]``, ``Record<string, T>``, ``A | B`` and the names in `TYPES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from soundtrack.ipc.protocol import ErrorCode

Role = Literal["monitor", "control"]


@dataclass(frozen=True)
class P:
    """A parameter: its name, type, default as documented ("" = required) and meaning."""

    name: str
    type: str
    default: str
    doc: str

    @property
    def required(self) -> bool:
        return self.default == ""


@dataclass(frozen=True)
class F:
    """A field of a result, a notification or a named type; `optional` fields are sometimes absent."""

    name: str
    type: str
    doc: str
    optional: bool = False


@dataclass(frozen=True)
class Method:
    name: str
    role: Role
    doc: str
    params: tuple[P, ...]
    result: tuple[F, ...] | str  # fields, or a type expression
    errors: tuple[ErrorCode, ...] = ()
    per_session: bool = False  # takes `session` (last) and acts on that music instance

    @property
    def param_names(self) -> tuple[str, ...]:
        names = _PARAM_NAMES.get(self.name)
        if names is None:
            names = _PARAM_NAMES[self.name] = tuple(p.name for p in self.params)
        return names


_PARAM_NAMES: dict[str, tuple[str, ...]] = {}  # per method: asked for on every request


@dataclass(frozen=True)
class Notification:
    kind: str
    doc: str
    fields: tuple[F, ...]
    marker: bool = True  # a musical marker (also in `render`'s `markers`); else a server event


# -- errors -------------------------------------------------------------------------------------

ERRORS: dict[ErrorCode, str] = {
    ErrorCode.PARSE_ERROR: "bytes that are not msgpack, or exceed a string/bin/array/map limit. Sent as an `error` notification, then **that connection only** is closed (the stream has lost its framing).",
    ErrorCode.MESSAGE_TOO_LARGE: "a message over `max_message_bytes`, counted as it arrives: `error` notification, then close",
    ErrorCode.INVALID_REQUEST: "valid msgpack that is not a request: not an array, wrong length, type not 0 or 2, msgid not a uint32, method not a string, params not an array, nested too deep. Answered with a response when a msgid could be read, otherwise with an `error` notification; the connection stays open.",
    ErrorCode.METHOD_NOT_FOUND: "the method is not one of those below",
    ErrorCode.INVALID_PARAMS: "a parameter is missing, unknown, or of the wrong type",
    ErrorCode.INTERNAL_ERROR: "a bug in the server; it is logged and the server keeps serving. Input never causes it: a value too large, too long or too deep is `OUT_OF_RANGE`.",
    ErrorCode.OUT_OF_RANGE: "a well-typed value outside its valid set: frames, a parameter value, a duration or gain past its limit, a path too long, an unknown state, parameter, session or notification kind, a protocol version",
    ErrorCode.NOT_LOADED: "`start` before `load`; `event`, `set_param`, `render`, `stop`, `pause`, `resume`, `volume`, `snapshot` before `start`",
    ErrorCode.NOT_CONTROLLER: "a control method from a client that does not control the server, or `hello(role=\"controller\")` while another client does (without `take`)",
    ErrorCode.UNAUTHORIZED: "with a token (`SOUNDTRACK_TOKEN` or `--token-file`): anything before a `hello` with the right token (a wrong token is answered after the rate limit, then the connection closes); without one: `shutdown` from a socket client when the server was not started with `--allow-shutdown`; `load(path)` when the server was not started with `--allow-load` or the path is outside its folders",
    ErrorCode.REJECTED: "the engine refused: `start` twice, an event or `pause` while stopping, `resume` when not paused, a bank that cannot be loaded, a snapshot of another graph, a sequencer error",
    ErrorCode.WRONG_MODE: "`render` on a session the server plays to the sound card (`--output device`)",
    ErrorCode.BUSY: "`load` while another `load` of that session is still reading its bank; `open_session` past `max_sessions`; a connection past `max_connections` (as an `error` notification, then close)",
    ErrorCode.NOT_READY: "a control method while the served bank is being built (`data` is the `build` progress; `status` and the `build` notification tell when it is done), or after it failed; while a built bank is only being read and decoded (phase `preparing`, seconds), `load` and `open_session` wait for it instead",
    ErrorCode.TIMEOUT: "a connection that sent no first message within `handshake_timeout`, took longer than `message_timeout` over one message, or sent nothing for `idle_timeout`: an `error` notification, then close",
}

# -- named types ----------------------------------------------------------------------------------

WHERE = (
    F("frame", "int", "the output frame"),
    F("position", "string", "bar:beat there (see Time)"),
    F("bar", "int", "the bar, when `position` is a plain `BAR:BEAT`", optional=True),
    F("beat", "int", "the beat, when `position` is a plain `BAR:BEAT`", optional=True),
)

GRAPH_FACTS = (
    F("graph", "string", "the graph's name"),
    F("source", "string", "the name of the graph or bank served (its last path component)"),
    F("states", "string[]", "the graph's states"),
    F("start_state", "string", "the state `start` plays by default"),
    F("events", "string[]", "the events transitions react to"),
    F("stingers", "string[]", "stingers (each may also be posted as an event)"),
    F("params", "Record<string, ParamInfo>", "the game parameters"),
)

TYPES: dict[str, tuple[F, ...]] = {
    "ParamInfo": (
        F("default", "number", "its value after `load`"),
        F("min", "number", "the smallest value"),
        F("max", "number", "the largest value"),
    ),
    "Segment": (
        F("name", "string", "the state, bridge or stinger it belongs to"),
        F("role", "'intro' | 'main' | 'outro' | 'bridge'", "what it is"),
        F("start", "int", "output frame of its first sample (its pickup)"),
        F("entry", "int", "output frame of its bar 1"),
        F("exit", "int", "output frame where its last bar ends (its tail rings on)"),
    ),
    "Plan": (
        F("kind", "'transition'", "what `event` did: a transition"),
        F("accepted", "bool", "false when the event means nothing in the state it meets (then `reason` says why and nothing changes; a `rejected` marker follows)"),
        F("event", "string", "the event"),
        F("reason", "string", "why it was refused (\"\" when accepted)"),
        F("from", "string | null", "the state it leaves"),
        F("to", "string | null", "the state it goes to"),
        F("source", "string | null", "the same as `from`"),
        F("target", "string | null", "the same as `to`"),
        F("posted_frame", "int", "the output frame the event was posted at (now, or `at_frame`)"),
        F("edit_frame", "int", "the grid point the transition lands on: the outgoing music starts to fade there (-1 when refused)"),
        F("position", "string", "bar:beat of `edit_frame` on the outgoing state's grid"),
        F("bar", "int", "the bar of `position`, when plain", optional=True),
        F("beat", "int", "the beat of `position`, when plain", optional=True),
        F("sync", "string", "the edit point kind: `immediate`, `beat`, `bar`, `phrase`, `end` or `cue:NAME`"),
        F("fade_frames", "int", "the crossfade length; a `fade = 0` rule still ramps over 1 ms (48 frames at 48 kHz)"),
        F("curve", "string", "`equal-power`, `linear` or `s-curve`"),
        F("commit_frame", "int", "the first frame at which anything of the plan sounds: a pickup (an intro's or bridge's audio before its bar 1) starts before `edit_frame`, so the edit point is the first grid point that leaves room for it. An event posted before `commit_frame` replaces this plan (a `cancelled` marker); one posted at or after it queues behind it, from the target state"),
        F("main_frame", "int", "where bar 1 of the target's main loop lands"),
        F("segments", "Segment[]", "outro, bridge and intro played on the way, in order"),
        F("rule", "int | null", "index of the `[[transitions]]` entry used"),
    ),
    "StingerPlan": (
        F("kind", "'stinger'", "what `event` did: a stinger's name was posted"),
        F("accepted", "bool", "false within the stinger's `min_interval` of its last entry (then `reason` says when it may play again)"),
        F("event", "string", "the stinger's name"),
        F("name", "string", "the same"),
        F("reason", "string", "why it was refused (\"\" when accepted)"),
        F("posted_frame", "int", "the output frame it was posted at"),
        F("frame", "int", "where its entry (first beat) lands: the next beat or bar after its pickup fits (-1 when refused)"),
        F("start", "int", "where its audio starts (its pickup; -1 when refused)"),
        F("position", "string", "bar:beat of `frame`"),
        F("bar", "int", "the bar of `position`, when plain", optional=True),
        F("beat", "int", "the beat of `position`, when plain", optional=True),
    ),
    "ParamChange": (
        F("name", "string", "the parameter"),
        F("value", "number", "its new value"),
        *WHERE[:1],
        F("position", "string", "bar:beat of `frame`, where the ramp starts (the parameter's quantize point)"),
        *WHERE[2:],
        F("ramp_frames", "int", "the ramp's length (at least 1 ms)"),
        F("end_frame", "int", "where the ramp ends"),
        F("gains", "Record<string, number>", "the gain each layer it moves ramps to"),
    ),
    "TempoChange": (
        F("name", "'tempo'", "`set_param(\"tempo\", bpm)` follows a tempo"),
        F("accepted", "bool", "false when the state has no tempo take to switch to (then `reason` says why)"),
        F("value", "number", "the tempo asked for (bpm)"),
        F("requested", "number", "the same"),
        F("bpm", "number | null", "the tempo take it switches to (the nearest built one)"),
        F("frame", "int", "the bar where it switches (-1 when refused)"),
        F("position", "string", "bar:beat of `frame`"),
        F("reason", "string", "why it was refused (\"\" when accepted)"),
        *WHERE[2:],
    ),
    "BuildProgress": (
        F("phase", "'building' | 'preparing' | 'ready' | 'failed'", "building the bank (generating stems), preparing it (reading and decoding every stem), ready, or failed"),
        F("total", "int", "stems in the bank (0 until known)"),
        F("done", "int", "stems finished (reused + generated)"),
        F("reused", "int", "stems reused from the cache"),
        F("generated", "int", "stems generated so far"),
        F("elapsed", "number", "seconds since the server started"),
        F("message", "string", "what failed (phase `failed`), else \"\""),
    ),
    "Marker": (),  # the union of the marker notifications' payloads (with `kind`): see NOTIFICATIONS
}

MARKER_BASE = (
    F("kind", "string", "the notification's kind"),
    *WHERE[:2],
    F("state", "string | null", "the state that owns the music there"),
    F("session", "int", "the music instance (0 unless `open_session` made others)"),
    *WHERE[2:],
)

NOTIFICATIONS: tuple[Notification, ...] = (
    Notification("beat", "a beat sounds at `frame`", (
        F("role", "string", "the segment playing: intro, main, outro, bridge"),
        F("name", "string", "its state or bridge"),
        F("bpm", "string", "its tempo, exact (`\"1237/10\"`)"),
    )),
    Notification("bar", "a downbeat sounds at `frame` (also sent as a `beat`)", (
        F("role", "string", "the segment playing"),
        F("name", "string", "its state or bridge"),
        F("bpm", "string", "its tempo, exact"),
        F("session_bar", "int", "bars since `start`, counting from 1"),
    )),
    Notification("segment", "a segment's bar 1 sounds at `frame`", (
        F("name", "string", "its state or bridge"),
        F("role", "string", "`intro`, `main`, `outro` or `bridge`"),
        F("plan", "int", "the plan it belongs to", optional=True),
        F("variant", "int", "which main loop (main only)", optional=True),
        F("bpm", "string", "the take's tempo (main only)", optional=True),
        F("offset", "int", "frames of the loop skipped when it starts part-way (main only)", optional=True),
    )),
    Notification("transition", "a plan's edit point sounds at `frame`", (
        F("event", "string | null", "the event"),
        F("from", "string | null", "the state it leaves"),
        F("to", "string", "the state it goes to"),
        F("sync", "string", "the edit point kind"),
        F("fade_frames", "int", "the crossfade length"),
        F("curve", "string", "the fade curve"),
        F("main_frame", "int", "where the target's main loop bar 1 lands"),
    )),
    Notification("state", "the state that owns the grid changes at `frame` (at `start` and at each transition's edit point)", (
        F("from", "string | null", "the previous state (null at the start)"),
    )),
    Notification("stinger", "a stinger's entry sounds at `frame`", (
        F("name", "string", "the stinger"),
        F("start", "int", "where its audio (pickup) started"),
    )),
    Notification("param", "a parameter's ramp starts at `frame`", (
        F("name", "string", "the parameter"),
        F("value", "number", "its new value"),
        F("gains", "Record<string, number>", "the layer gains it ramps to"),
        F("ramp_frames", "int", "the ramp's length"),
    )),
    Notification("tempo", "a tempo take starts at `frame` (after `set_param(\"tempo\", bpm)`)", (
        F("bpm", "string", "the take's tempo, exact"),
    )),
    Notification("rejected", "an event or stinger was refused at `frame` (its result said so too)", (
        F("event", "string", "the event refused", optional=True),
        F("stinger", "string", "the stinger refused", optional=True),
        F("reason", "string", "why"),
    )),
    Notification("cancelled", "a newer event replaced a plan that had not started to sound, at `frame`", (
        F("plan", "int", "the plan replaced"),
    )),
    Notification("control", "who controls the server changed; always sent to the client that lost control, and to subscribers", (
        F("controller", "int | null", "the client now in control (null: nobody)"),
        F("previous", "int | null", "the client that had it"),
        F("reason", "'taken' | 'released' | 'disconnected'", "another client took it with `hello(take=true)`, the controller said `hello(role=\"monitor\")`, or it disconnected"),
    ), marker=False),
    Notification("build", "the served bank's build or preparation moved on (see `status().build`)", TYPES["BuildProgress"], marker=False),
    Notification("error", "a message could not be answered with a response (no msgid), or the connection is about to be closed; always sent", (
        F("code", "int", "an error code"),
        F("message", "string", "what was wrong"),
    ), marker=False),
)

NOTIFY = {n.kind: n for n in NOTIFICATIONS}
SUBSCRIBABLE = tuple(n.kind for n in NOTIFICATIONS if n.kind != "error")
MARKER_KINDS = tuple(n.kind for n in NOTIFICATIONS if n.marker)

# -- methods --------------------------------------------------------------------------------------

_SESSION = P("session", "int", "0", "the music instance (`open_session`); 0 is the one every server has")
_DUR = "number | string"

METHODS_LIST: tuple[Method, ...] = (
    Method("hello", "monitor",
           "Introduce yourself. A client that asks for `\"monitor\"` never becomes the controller by calling a control method; one that asks for `\"controller\"` gets control when nobody has it, or with `take` from whoever has it (that client gets a `control` notification and becomes a monitor). When the server was started with a token, nothing else is answered before a `hello` with it.",
           (P("role", "'controller' | 'monitor'", "\"monitor\"", "the role asked for"),
            P("version", "int", "1", "the protocol version spoken (must be 1)"),
            P("client", "string", "nil", "the client's name, for the server's log"),
            P("token", "string", "nil", "the server's token (required first when it was started with one)"),
            P("take", "bool", "false", "take control from the client that has it (a game reconnecting after a drop)")),
           (F("protocol", "int", "1"),
            F("server", "string", "`\"soundtrack VERSION\"`"),
            F("client_id", "int", "this connection's id"),
            F("role", "'controller' | 'monitor'", "the role granted"),
            F("controller", "int | null", "the client in control"),
            F("sample_rate", "int", "Hz"),
            F("channels", "int", "channels of every block"),
            F("formats", "string[]", "`[\"f32\", \"s16\"]`"),
            F("min_block_frames", "int", "1"),
            F("max_block_frames", "int", "the largest `render`"),
            F("max_message_bytes", "int", "the largest message the server reads"),
            F("output", "'pull' | 'device'", "how session 0 is heard"),
            F("ready", "bool", "false while the bank is built or prepared (see `build`)"),
            F("build", "BuildProgress", "the bank's build and preparation"),
            F("loaded", "bool", "session 0 is loaded"),
            F("started", "bool", "session 0 is started"),
            F("methods", "string[]", "every method"),
            F("notifications", "string[]", "every notification kind one can subscribe to"),
            F("limits", "Record<string, number>", "every limit of the Limits table"),
            *GRAPH_FACTS),
           (ErrorCode.NOT_CONTROLLER, ErrorCode.UNAUTHORIZED, ErrorCode.OUT_OF_RANGE)),
    Method("status", "monitor",
           "Where a session is, and the server's state. The fields after `sessions` are there once the session is loaded.",
           (_SESSION,),
           (F("ready", "bool", "the bank is built and prepared"),
            F("build", "BuildProgress", "the bank's build and preparation"),
            F("controller", "int | null", "the client in control"),
            F("clients", "int", "connections"),
            F("output", "'pull' | 'device'", "how this session is heard"),
            F("graph", "string", "the graph's name"),
            F("sample_rate", "int", "Hz"),
            F("sessions", "int[]", "the open music instances"),
            F("session", "int", "the session described"),
            F("loaded", "bool", "a bank is loaded"),
            F("started", "bool", "`start` was called since the `load`"),
            F("frame", "int", "the next output frame `render` returns", optional=True),
            F("position", "string", "its bar:beat", optional=True),
            F("bar", "int", "", optional=True),
            F("beat", "int", "", optional=True),
            F("earliest_frame", "int", "the first output frame a command given now acts on: `frame` plus the 2 ms look-ahead the safety limiter has already mixed", optional=True),
            F("state", "string | null", "the state playing", optional=True),
            F("seed", "int", "the session's seed", optional=True),
            F("tempo", "number", "bpm of what plays now (a tempo take's, an intro's)", optional=True),
            F("tempo_exact", "string", "the same as a fraction (`\"1237/10\"`)", optional=True),
            F("meter", "string", "its meter", optional=True),
            F("pending", "Plan[]", "accepted plans not yet fully played", optional=True),
            F("params", "Record<string, number>", "current parameter values", optional=True),
            F("stopping", "bool", "`stop` was called", optional=True),
            F("paused", "bool", "paused (from the end of the pause's fade until `resume`)", optional=True),
            F("volume_db", "number", "the master volume asked for last", optional=True),
            F("device_rendered_frames", "int", "device mode: frames put in the device queue", optional=True),
            F("device_played_frames", "int", "device mode: frames the sound card took", optional=True),
            F("device_queue_blocks", "int", "device mode: blocks queued", optional=True),
            F("device_underruns", "int", "device mode: callbacks that found the queue empty", optional=True),
            F("device_latency_frames", "int", "device mode: rendered minus played", optional=True)),
           (ErrorCode.OUT_OF_RANGE,), per_session=True),
    Method("subscribe", "monitor",
           "Start receiving notifications of `kinds`. `error`, and `control` to the client losing control, are always sent.",
           (P("kinds", "string[]", "all", "notification kinds (see Notifications)"),),
           (F("subscribed", "string[]", "the kinds now on"),), (ErrorCode.OUT_OF_RANGE,)),
    Method("unsubscribe", "monitor", "Stop receiving notifications of `kinds`.",
           (P("kinds", "string[]", "all", "notification kinds"),),
           (F("subscribed", "string[]", "the kinds still on"),), (ErrorCode.OUT_OF_RANGE,)),
    Method("ping", "monitor", "Returns `payload` unchanged (round-trip measurements, keep-alives against `idle_timeout`).",
           (P("payload", "unknown", "nil", "anything"),), "unknown"),
    Method("load", "control",
           "Make a fresh session at output frame 0 (not started) on the bank being served, or on `path`: a bank directory, or a graph `.toml` whose bank (`loops/NAME/`) is built, inside a folder the server was started with `--allow-load DIR` for. Every stem is read and decoded in a worker thread before the answer, so no later method reads a file or decodes audio. Same seed, same requests: same audio.",
           (P("path", "string", "nil", "another bank or graph (needs `--allow-load`)"),
            P("seed", "int", "the graph's seed", "0..2^63-1"),
            _SESSION),
           (F("loaded", "bool", "true"), F("seed", "int", "the seed used"), F("sample_rate", "int", "Hz"),
            F("channels", "int", "channels"), F("session", "int", "the session loaded"), *GRAPH_FACTS),
           (ErrorCode.NOT_READY, ErrorCode.UNAUTHORIZED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED, ErrorCode.BUSY),
           per_session=True),
    Method("start", "control",
           "Start playing `state` (its intro's pickup first, so its bar 1 lands on the intro's entry, then its main loop) from `earliest_frame`.",
           (P("state", "string", "the graph's start state", "the state"), _SESSION),
           (F("state", "string", "the state started"), *WHERE[:1],
            F("position", "string", "bar:beat of `frame`"), *WHERE[2:],
            F("main_frame", "int", "where bar 1 of its main loop lands"),
            F("tempo", "number", "bpm of what plays first"), F("tempo_exact", "string", "the same, exact"),
            F("meter", "string", "its meter"), F("session", "int", "the session")),
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), per_session=True),
    Method("event", "control",
           "Post a game event (`\"enemy_spotted\"`), or a stinger's name (it overlays the stinger on its next beat or bar). The plan acts from `earliest_frame` (or `at_frame`), never inside the 2 ms already mixed. Events after a plan's `commit_frame` queue behind it; before it, they replace it.",
           (P("event", "string", "", "an event or stinger name of the graph"),
            P("at_frame", "int", "now", "post it as if it arrived at this output frame: from `status().frame` to one hour (`max_at_frame_seconds`) ahead"),
            _SESSION),
           "Plan | StingerPlan",
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), per_session=True),
    Method("set_param", "control",
           "Set a game parameter (`\"intensity\"`) within its `min`..`max`: its layers ramp to their gains from the parameter's quantize point (next beat by default). `set_param(\"tempo\", bpm)` (when the graph has no parameter of that name) follows a tempo: from the next bar the state plays its nearest tempo take (`tempi`), and so do its outro and its next entry.",
           (P("name", "string", "", "a parameter, or `tempo`"),
            P("value", "number", "", "its value (bpm for `tempo`: 20..300)"),
            P("ramp", _DUR, "the parameter's ramp", "beats, or `\"2 bars\"`, `\"0.5s\"`, `\"250ms\"`: at most 64 bars or 60 s"),
            _SESSION),
           "ParamChange | TempoChange",
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), per_session=True),
    Method("render", "control",
           "The next `frames` output frames (pull mode). Notifications for the markers in the block go to subscribers **before** the response. While paused, the blocks are silence and the music stands still.",
           (P("frames", "int", "", "1..`max_block_frames`"),
            P("format", "'f32' | 's16'", "\"f32\"", "sample format of `pcm`"),
            _SESSION),
           (F("frame", "int", "the block's first output frame"), F("frames", "int", "frames in the block"),
            F("channels", "int", "channels"), F("format", "'f32' | 's16'", "the sample format"),
            F("pcm", "bin", "`frames × channels` interleaved little-endian samples"),
            F("markers", "Marker[]", "the markers inside the block, as in the notifications")),
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE, ErrorCode.WRONG_MODE), per_session=True),
    Method("stop", "control",
           "Fade the music out from the next bar over `fade` (beats and bars of the music playing at that bar, a tempo take's included; at least 1 ms; equal-power, per sample), then play silence (markers go on). `load` starts again.",
           (P("fade", _DUR, "\"1 bars\"", "at most 64 bars or 60 s"), _SESSION),
           (F("frame", "int", "the bar where the fade starts"), F("end_frame", "int", "the first silent frame"),
            F("fade_frames", "int", "the fade's length")),
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), per_session=True),
    Method("pause", "control",
           "Fade the output out from `earliest_frame` over `fade`, then stand the music still: `render` returns silence, no marker moves, output frames go on counting. `resume` continues with exactly the frames that would have followed.",
           (P("fade", _DUR, "\"10ms\"", "at least 1 ms, at most 60 s"), _SESSION),
           (F("paused", "bool", "true"), F("frame", "int", "output frame where the fade starts"),
            F("fade_frames", "int", "its length"), F("end_frame", "int", "where the silence starts")),
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), per_session=True),
    Method("resume", "control",
           "Continue a pause from where the music stopped, fading in over `fade` (during the pause's own fade: from the gain it has reached).",
           (P("fade", _DUR, "\"10ms\"", "at least 1 ms, at most 60 s"), _SESSION),
           (F("paused", "bool", "false"), F("frame", "int", "output frame where the music continues"),
            F("fade_frames", "int", "the fade-in's length"), F("end_frame", "int", "where it ends")),
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), per_session=True),
    Method("volume", "control",
           "Ramp the master volume (before the safety limiter, so it never clips) to `db` from `earliest_frame`, per sample.",
           (P("db", "number", "", "`min_volume_db` (silence)..`max_volume_db`"),
            P("ramp", _DUR, "\"50ms\"", "at least 1 ms, at most 60 s"), _SESSION),
           (F("db", "number", "the volume asked for"), F("frame", "int", "where the ramp starts"),
            F("ramp_frames", "int", "its length"), F("end_frame", "int", "where it ends")),
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED, ErrorCode.OUT_OF_RANGE), per_session=True),
    Method("snapshot", "control",
           "The session's position (state, loop, variant, layer gains, parameters, tempo, volume, frame) as a map to keep with a saved game; `restore` comes back to it.",
           (_SESSION,),
           (F("snapshot", "Record<string, unknown>", "opaque: give it back to `restore` as it is"),
            F("frame", "int", "the output frame whose music it describes (`earliest_frame`: the 2 ms already mixed are not in it)")),
           (ErrorCode.NOT_READY, ErrorCode.NOT_LOADED), per_session=True),
    Method("restore", "control",
           "Replace the session with a fresh one at the position of `snapshot` (instead of `start`), fading in over 10 ms: when only the state's loop was sounding, the music is then exactly what followed the snapshot's frame; otherwise the loop comes back at its position and what was in flight (a transition, a stinger, a ramp) is dropped. Output frames count from 0 again, as after `load`.",
           (P("snapshot", "Record<string, unknown>", "", "a `snapshot` result's `snapshot` from a server playing the same graph"),
            _SESSION),
           (F("restored", "bool", "true"), F("frame", "int", "the output frame it continues from (0)"),
            F("state", "string | null", "the state playing"), F("session", "int", "the session")),
           (ErrorCode.NOT_READY, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED), per_session=True),
    Method("open_session", "control",
           "Open another independent music instance (split screen, a menu under the game): its own sequencer, clock, plans and volume, loaded and not started, on the bank being served or `path` (as `load`). Pass its `session` to the other methods.",
           (P("path", "string", "nil", "another bank or graph (needs `--allow-load`)"),
            P("seed", "int", "the graph's seed", "0..2^63-1")),
           (F("session", "int", "its id"), F("loaded", "bool", "true"), F("seed", "int", "its seed"),
            F("sample_rate", "int", "Hz"), F("channels", "int", "channels"), *GRAPH_FACTS),
           (ErrorCode.NOT_READY, ErrorCode.UNAUTHORIZED, ErrorCode.OUT_OF_RANGE, ErrorCode.REJECTED, ErrorCode.BUSY)),
    Method("close_session", "control", "Close a session `open_session` made (session 0 cannot be closed).",
           (P("session", "int", "", "its id"),),
           (F("closed", "bool", "true"), F("session", "int", "its id")),
           (ErrorCode.OUT_OF_RANGE,)),
    Method("shutdown", "control",
           "Answer, then stop the server: listeners close, in-flight requests finish and their responses are sent, the Unix socket file is removed. Allowed over stdio (the parent), on a server with a token, or with `--allow-shutdown`; SIGTERM does the same.",
           (), (F("shutting_down", "bool", "true"),), (ErrorCode.UNAUTHORIZED,)),
)

METHODS: dict[str, Method] = {m.name: m for m in METHODS_LIST}
CONTROL_METHODS = tuple(m.name for m in METHODS_LIST if m.role == "control")
MONITOR_METHODS = tuple(m.name for m in METHODS_LIST if m.role == "monitor")
