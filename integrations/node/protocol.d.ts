// The soundtrack protocol's wire types, generated from soundtrack/ipc/schema.py by
// `python -m soundtrack.ipc.schemadoc --write`: do not edit (tests/test_ipc_schema.py checks it).
// docs/protocol.md explains every field; index.d.ts (the Node client) imports these.

export type ProtocolVersion = 1;

export interface ErrorCodes {
  readonly PARSE_ERROR: -32700;
  readonly MESSAGE_TOO_LARGE: -32701;
  readonly INVALID_REQUEST: -32600;
  readonly METHOD_NOT_FOUND: -32601;
  readonly INVALID_PARAMS: -32602;
  readonly INTERNAL_ERROR: -32603;
  readonly OUT_OF_RANGE: 1;
  readonly NOT_LOADED: 2;
  readonly NOT_CONTROLLER: 3;
  readonly UNAUTHORIZED: 4;
  readonly REJECTED: 5;
  readonly WRONG_MODE: 6;
  readonly BUSY: 7;
  readonly NOT_READY: 8;
  readonly TIMEOUT: 9;
}

export type ErrorCodeName = keyof ErrorCodes;

export interface Limits {
  /** one message, counted as its bytes arrive (containers in progress included): `MESSAGE_TOO_LARGE` notification, then close (bytes) */
  max_message_bytes: number;
  /** one string: `PARSE_ERROR` notification, then close (bytes) */
  max_str_len: number;
  /** one bin: `PARSE_ERROR` notification, then close (bytes) */
  max_bin_len: number;
  /** one array: `PARSE_ERROR` notification, then close (elements) */
  max_array_len: number;
  /** one map: `PARSE_ERROR` notification, then close (pairs) */
  max_map_len: number;
  /** array items and map pairs in one message, all levels together (parsing and checking a message costs the server that many steps at most): `PARSE_ERROR` notification, then close (elements) */
  max_elements: number;
  /** containers nested in one message: `INVALID_REQUEST` response (the message parsed, so the connection stays) (levels) */
  max_depth: number;
  /** `render` frames (1..this): `OUT_OF_RANGE` (frames) */
  max_block_frames: number;
  /** queued for one client: its notifications are dropped; a response that does not fit disconnects it (bytes) */
  max_outgoing_bytes: number;
  /** requests read from one monitor and not yet served: the server stops reading from it until they are (bytes) */
  max_inbox_bytes: number;
  /** connections at once: one more gets a `BUSY` error notification and is closed (connections) */
  max_connections: number;
  /** for a new connection's first complete message (with a token: its `hello` with the token): `TIMEOUT` notification, then close (s) */
  handshake_timeout: number;
  /** from a message's first byte to its last (slowloris): `TIMEOUT` notification, then close (s) */
  message_timeout: number;
  /** without a message from a client other than the controller or a stdio parent (`ping` keeps a connection alive): `TIMEOUT` notification, then close (s) */
  idle_timeout: number;
  /** failed `hello` tokens the server answers at once; after that, failures are answered at `auth_failures_per_s`, every `hello` with a token waiting its turn, and each failure closes its connection (failures) */
  auth_failures_burst: number;
  /** failed `hello` tokens per second, server-wide, once the burst is spent (per s) */
  auth_failures_per_s: number;
  /** music instances per server (`open_session`): `BUSY` (sessions) */
  max_sessions: number;
  /** `load` / `open_session` path: `OUT_OF_RANGE` (characters) */
  max_path_len: number;
  /** a fade, ramp or interval given in bars or beats (beats count against the bars of the grid it is measured on): `OUT_OF_RANGE` (bars) */
  max_duration_bars: number;
  /** a fade, ramp or interval given in seconds or ms: `OUT_OF_RANGE` (s) */
  max_duration_seconds: number;
  /** how far ahead `event(at_frame)` may post: `OUT_OF_RANGE` (s) */
  max_at_frame_seconds: number;
  /** `volume` floor (at or below: silence): `OUT_OF_RANGE` below (dB) */
  min_volume_db: number;
  /** `volume` ceiling (before the safety limiter, so it cannot clip): `OUT_OF_RANGE` above (dB) */
  max_volume_db: number;
}

export interface ParamInfo {
  /** its value after `load` */
  default: number;
  /** the smallest value */
  min: number;
  /** the largest value */
  max: number;
}

export interface Segment {
  /** the state, bridge or stinger it belongs to */
  name: string;
  /** what it is */
  role: 'intro' | 'main' | 'outro' | 'bridge';
  /** output frame of its first sample (its pickup) */
  start: number;
  /** output frame of its bar 1 */
  entry: number;
  /** output frame where its last bar ends (its tail rings on) */
  exit: number;
}

export interface Plan {
  /** what `event` did: a transition */
  kind: 'transition';
  /** false when the event means nothing in the state it meets (then `reason` says why and nothing changes; a `rejected` marker follows) */
  accepted: boolean;
  /** the event */
  event: string;
  /** why it was refused ("" when accepted) */
  reason: string;
  /** the state it leaves */
  from: string | null;
  /** the state it goes to */
  to: string | null;
  /** the same as `from` */
  source: string | null;
  /** the same as `to` */
  target: string | null;
  /** the output frame the event was posted at (now, or `at_frame`) */
  posted_frame: number;
  /** the grid point the transition lands on: the outgoing music starts to fade there (-1 when refused) */
  edit_frame: number;
  /** bar:beat of `edit_frame` on the outgoing state's grid */
  position: string;
  /** the bar of `position`, when plain */
  bar?: number;
  /** the beat of `position`, when plain */
  beat?: number;
  /** the edit point kind: `immediate`, `beat`, `bar`, `phrase`, `end` or `cue:NAME` */
  sync: string;
  /** the crossfade length; a `fade = 0` rule still ramps over 1 ms (48 frames at 48 kHz) */
  fade_frames: number;
  /** `equal-power`, `linear` or `s-curve` */
  curve: string;
  /** the first frame at which anything of the plan sounds: a pickup (an intro's or bridge's audio before its bar 1) starts before `edit_frame`, so the edit point is the first grid point that leaves room for it. An event posted before `commit_frame` replaces this plan (a `cancelled` marker); one posted at or after it queues behind it, from the target state */
  commit_frame: number;
  /** where bar 1 of the target's main loop lands */
  main_frame: number;
  /** outro, bridge and intro played on the way, in order */
  segments: Segment[];
  /** index of the `[[transitions]]` entry used */
  rule: number | null;
}

export interface StingerPlan {
  /** what `event` did: a stinger's name was posted */
  kind: 'stinger';
  /** false within the stinger's `min_interval` of its last entry (then `reason` says when it may play again) */
  accepted: boolean;
  /** the stinger's name */
  event: string;
  /** the same */
  name: string;
  /** why it was refused ("" when accepted) */
  reason: string;
  /** the output frame it was posted at */
  posted_frame: number;
  /** where its entry (first beat) lands: the next beat or bar after its pickup fits (-1 when refused) */
  frame: number;
  /** where its audio starts (its pickup; -1 when refused) */
  start: number;
  /** bar:beat of `frame` */
  position: string;
  /** the bar of `position`, when plain */
  bar?: number;
  /** the beat of `position`, when plain */
  beat?: number;
}

export interface ParamChange {
  /** the parameter */
  name: string;
  /** its new value */
  value: number;
  /** the output frame */
  frame: number;
  /** bar:beat of `frame`, where the ramp starts (the parameter's quantize point) */
  position: string;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the ramp's length (at least 1 ms) */
  ramp_frames: number;
  /** where the ramp ends */
  end_frame: number;
  /** the gain each layer it moves ramps to */
  gains: Record<string, number>;
}

export interface TempoChange {
  /** `set_param("tempo", bpm)` follows a tempo */
  name: 'tempo';
  /** false when the state has no tempo take to switch to (then `reason` says why) */
  accepted: boolean;
  /** the tempo asked for (bpm) */
  value: number;
  /** the same */
  requested: number;
  /** the tempo take it switches to (the nearest built one) */
  bpm: number | null;
  /** the bar where it switches (-1 when refused) */
  frame: number;
  /** bar:beat of `frame` */
  position: string;
  /** why it was refused ("" when accepted) */
  reason: string;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
}

export interface BuildProgress {
  /** building the bank (generating stems), preparing it (reading and decoding every stem), ready, or failed */
  phase: 'building' | 'preparing' | 'ready' | 'failed';
  /** stems in the bank (0 until known) */
  total: number;
  /** stems finished (reused + generated) */
  done: number;
  /** stems reused from the cache */
  reused: number;
  /** stems generated so far */
  generated: number;
  /** seconds since the server started */
  elapsed: number;
  /** what failed (phase `failed`), else "" */
  message: string;
}

/** a beat sounds at `frame` */
export interface BeatNotification {
  /** the notification's kind */
  kind: 'beat';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the segment playing: intro, main, outro, bridge */
  role: string;
  /** its state or bridge */
  name: string;
  /** its tempo, exact (`"1237/10"`) */
  bpm: string;
}

/** a downbeat sounds at `frame` (also sent as a `beat`) */
export interface BarNotification {
  /** the notification's kind */
  kind: 'bar';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the segment playing */
  role: string;
  /** its state or bridge */
  name: string;
  /** its tempo, exact */
  bpm: string;
  /** bars since `start`, counting from 1 */
  session_bar: number;
}

/** a segment's bar 1 sounds at `frame` */
export interface SegmentNotification {
  /** the notification's kind */
  kind: 'segment';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** its state or bridge */
  name: string;
  /** `intro`, `main`, `outro` or `bridge` */
  role: string;
  /** the plan it belongs to */
  plan?: number;
  /** which main loop (main only) */
  variant?: number;
  /** the take's tempo (main only) */
  bpm?: string;
  /** frames of the loop skipped when it starts part-way (main only) */
  offset?: number;
}

/** a plan's edit point sounds at `frame` */
export interface TransitionNotification {
  /** the notification's kind */
  kind: 'transition';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the event */
  event: string | null;
  /** the state it leaves */
  from: string | null;
  /** the state it goes to */
  to: string;
  /** the edit point kind */
  sync: string;
  /** the crossfade length */
  fade_frames: number;
  /** the fade curve */
  curve: string;
  /** where the target's main loop bar 1 lands */
  main_frame: number;
}

/** the state that owns the grid changes at `frame` (at `start` and at each transition's edit point) */
export interface StateNotification {
  /** the notification's kind */
  kind: 'state';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the previous state (null at the start) */
  from: string | null;
}

/** a stinger's entry sounds at `frame` */
export interface StingerNotification {
  /** the notification's kind */
  kind: 'stinger';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the stinger */
  name: string;
  /** where its audio (pickup) started */
  start: number;
}

/** a parameter's ramp starts at `frame` */
export interface ParamNotification {
  /** the notification's kind */
  kind: 'param';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the parameter */
  name: string;
  /** its new value */
  value: number;
  /** the layer gains it ramps to */
  gains: Record<string, number>;
  /** the ramp's length */
  ramp_frames: number;
}

/** a tempo take starts at `frame` (after `set_param("tempo", bpm)`) */
export interface TempoNotification {
  /** the notification's kind */
  kind: 'tempo';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the take's tempo, exact */
  bpm: string;
}

/** an event or stinger was refused at `frame` (its result said so too) */
export interface RejectedNotification {
  /** the notification's kind */
  kind: 'rejected';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the event refused */
  event?: string;
  /** the stinger refused */
  stinger?: string;
  /** why */
  reason: string;
}

/** a newer event replaced a plan that had not started to sound, at `frame` */
export interface CancelledNotification {
  /** the notification's kind */
  kind: 'cancelled';
  /** the output frame */
  frame: number;
  /** bar:beat there (see Time) */
  position: string;
  /** the state that owns the music there */
  state: string | null;
  /** the music instance (0 unless `open_session` made others) */
  session: number;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** the plan replaced */
  plan: number;
}

/** who controls the server changed; always sent to the client that lost control, and to subscribers */
export interface ControlNotification {
  /** the client now in control (null: nobody) */
  controller: number | null;
  /** the client that had it */
  previous: number | null;
  /** another client took it with `hello(take=true)`, the controller said `hello(role="monitor")`, or it disconnected */
  reason: 'taken' | 'released' | 'disconnected';
}

/** the served bank's build or preparation moved on (see `status().build`) */
export interface BuildNotification {
  /** building the bank (generating stems), preparing it (reading and decoding every stem), ready, or failed */
  phase: 'building' | 'preparing' | 'ready' | 'failed';
  /** stems in the bank (0 until known) */
  total: number;
  /** stems finished (reused + generated) */
  done: number;
  /** stems reused from the cache */
  reused: number;
  /** stems generated so far */
  generated: number;
  /** seconds since the server started */
  elapsed: number;
  /** what failed (phase `failed`), else "" */
  message: string;
}

/** a message could not be answered with a response (no msgid), or the connection is about to be closed; always sent */
export interface ErrorNotification {
  /** an error code */
  code: number;
  /** what was wrong */
  message: string;
}

/** A musical marker: a notification payload, or one of `render`'s `markers`. */
export type Marker = BeatNotification | BarNotification | SegmentNotification | TransitionNotification | StateNotification | StingerNotification | ParamNotification | TempoNotification | RejectedNotification | CancelledNotification;

export interface Notifications {
  beat: BeatNotification;
  bar: BarNotification;
  segment: SegmentNotification;
  transition: TransitionNotification;
  state: StateNotification;
  stinger: StingerNotification;
  param: ParamNotification;
  tempo: TempoNotification;
  rejected: RejectedNotification;
  cancelled: CancelledNotification;
  control: ControlNotification;
  build: BuildNotification;
  error: ErrorNotification;
}

export type NotificationKind = keyof Notifications;

/** `hello`'s named parameters (its positional order is this order). */
export interface HelloParams {
  /** the role asked for (default: "monitor") */
  role?: 'controller' | 'monitor';
  /** the protocol version spoken (must be 1) (default: 1) */
  version?: number;
  /** the client's name, for the server's log (default: nil) */
  client?: string;
  /** the server's token (required first when it was started with one) (default: nil) */
  token?: string;
  /** take control from the client that has it (a game reconnecting after a drop) (default: false) */
  take?: boolean;
}

export interface HelloResult {
  /** 1 */
  protocol: number;
  /** `"soundtrack VERSION"` */
  server: string;
  /** this connection's id */
  client_id: number;
  /** the role granted */
  role: 'controller' | 'monitor';
  /** the client in control */
  controller: number | null;
  /** Hz */
  sample_rate: number;
  /** channels of every block */
  channels: number;
  /** `["f32", "s16"]` */
  formats: string[];
  /** 1 */
  min_block_frames: number;
  /** the largest `render` */
  max_block_frames: number;
  /** the largest message the server reads */
  max_message_bytes: number;
  /** how session 0 is heard */
  output: 'pull' | 'device';
  /** false while the bank is built or prepared (see `build`) */
  ready: boolean;
  /** the bank's build and preparation */
  build: BuildProgress;
  /** session 0 is loaded */
  loaded: boolean;
  /** session 0 is started */
  started: boolean;
  /** every method */
  methods: string[];
  /** every notification kind one can subscribe to */
  notifications: string[];
  /** every limit of the Limits table */
  limits: Record<string, number>;
  /** the graph's name */
  graph: string;
  /** the name of the graph or bank served (its last path component) */
  source: string;
  /** the graph's states */
  states: string[];
  /** the state `start` plays by default */
  start_state: string;
  /** the events transitions react to */
  events: string[];
  /** stingers (each may also be posted as an event) */
  stingers: string[];
  /** the game parameters */
  params: Record<string, ParamInfo>;
}

/** `status`'s named parameters (its positional order is this order). */
export interface StatusParams {
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface StatusResult {
  /** the bank is built and prepared */
  ready: boolean;
  /** the bank's build and preparation */
  build: BuildProgress;
  /** the client in control */
  controller: number | null;
  /** connections */
  clients: number;
  /** how this session is heard */
  output: 'pull' | 'device';
  /** the graph's name */
  graph: string;
  /** Hz */
  sample_rate: number;
  /** the open music instances */
  sessions: number[];
  /** the session described */
  session: number;
  /** a bank is loaded */
  loaded: boolean;
  /** `start` was called since the `load` */
  started: boolean;
  /** the next output frame `render` returns */
  frame?: number;
  /** its bar:beat */
  position?: string;
  bar?: number;
  beat?: number;
  /** the first output frame a command given now acts on: `frame` plus the 2 ms look-ahead the safety limiter has already mixed */
  earliest_frame?: number;
  /** the state playing */
  state?: string | null;
  /** the session's seed */
  seed?: number;
  /** bpm of what plays now (a tempo take's, an intro's) */
  tempo?: number;
  /** the same as a fraction (`"1237/10"`) */
  tempo_exact?: string;
  /** its meter */
  meter?: string;
  /** accepted plans not yet fully played */
  pending?: Plan[];
  /** current parameter values */
  params?: Record<string, number>;
  /** `stop` was called */
  stopping?: boolean;
  /** paused (from the end of the pause's fade until `resume`) */
  paused?: boolean;
  /** the master volume asked for last */
  volume_db?: number;
  /** device mode: frames put in the device queue */
  device_rendered_frames?: number;
  /** device mode: frames the sound card took */
  device_played_frames?: number;
  /** device mode: blocks queued */
  device_queue_blocks?: number;
  /** device mode: callbacks that found the queue empty */
  device_underruns?: number;
  /** device mode: rendered minus played */
  device_latency_frames?: number;
}

/** `subscribe`'s named parameters (its positional order is this order). */
export interface SubscribeParams {
  /** notification kinds (see Notifications) (default: all) */
  kinds?: string[];
}

export interface SubscribeResult {
  /** the kinds now on */
  subscribed: string[];
}

/** `unsubscribe`'s named parameters (its positional order is this order). */
export interface UnsubscribeParams {
  /** notification kinds (default: all) */
  kinds?: string[];
}

export interface UnsubscribeResult {
  /** the kinds still on */
  subscribed: string[];
}

/** `ping`'s named parameters (its positional order is this order). */
export interface PingParams {
  /** anything (default: nil) */
  payload?: unknown;
}

export type PingResult = unknown;

/** `load`'s named parameters (its positional order is this order). */
export interface LoadParams {
  /** another bank or graph (needs `--allow-load`) (default: nil) */
  path?: string;
  /** 0..2^63-1 (default: the graph's seed) */
  seed?: number;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface LoadResult {
  /** true */
  loaded: boolean;
  /** the seed used */
  seed: number;
  /** Hz */
  sample_rate: number;
  /** channels */
  channels: number;
  /** the session loaded */
  session: number;
  /** the graph's name */
  graph: string;
  /** the name of the graph or bank served (its last path component) */
  source: string;
  /** the graph's states */
  states: string[];
  /** the state `start` plays by default */
  start_state: string;
  /** the events transitions react to */
  events: string[];
  /** stingers (each may also be posted as an event) */
  stingers: string[];
  /** the game parameters */
  params: Record<string, ParamInfo>;
}

/** `start`'s named parameters (its positional order is this order). */
export interface StartParams {
  /** the state (default: the graph's start state) */
  state?: string;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface StartResult {
  /** the state started */
  state: string;
  /** the output frame */
  frame: number;
  /** bar:beat of `frame` */
  position: string;
  /** the bar, when `position` is a plain `BAR:BEAT` */
  bar?: number;
  /** the beat, when `position` is a plain `BAR:BEAT` */
  beat?: number;
  /** where bar 1 of its main loop lands */
  main_frame: number;
  /** bpm of what plays first */
  tempo: number;
  /** the same, exact */
  tempo_exact: string;
  /** its meter */
  meter: string;
  /** the session */
  session: number;
}

/** `event`'s named parameters (its positional order is this order). */
export interface EventParams {
  /** an event or stinger name of the graph */
  event: string;
  /** post it as if it arrived at this output frame: from `status().frame` to one hour (`max_at_frame_seconds`) ahead (default: now) */
  at_frame?: number;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export type EventResult = Plan | StingerPlan;

/** `set_param`'s named parameters (its positional order is this order). */
export interface SetParamParams {
  /** a parameter, or `tempo` */
  name: string;
  /** its value (bpm for `tempo`: 20..300) */
  value: number;
  /** beats, or `"2 bars"`, `"0.5s"`, `"250ms"`: at most 64 bars or 60 s (default: the parameter's ramp) */
  ramp?: number | string;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export type SetParamResult = ParamChange | TempoChange;

/** `render`'s named parameters (its positional order is this order). */
export interface RenderParams {
  /** 1..`max_block_frames` */
  frames: number;
  /** sample format of `pcm` (default: "f32") */
  format?: 'f32' | 's16';
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface RenderResult {
  /** the block's first output frame */
  frame: number;
  /** frames in the block */
  frames: number;
  /** channels */
  channels: number;
  /** the sample format */
  format: 'f32' | 's16';
  /** `frames × channels` interleaved little-endian samples */
  pcm: Uint8Array;
  /** the markers inside the block, as in the notifications */
  markers: Marker[];
}

/** `stop`'s named parameters (its positional order is this order). */
export interface StopParams {
  /** at most 64 bars or 60 s (default: "1 bars") */
  fade?: number | string;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface StopResult {
  /** the bar where the fade starts */
  frame: number;
  /** the first silent frame */
  end_frame: number;
  /** the fade's length */
  fade_frames: number;
}

/** `pause`'s named parameters (its positional order is this order). */
export interface PauseParams {
  /** at least 1 ms, at most 60 s (default: "10ms") */
  fade?: number | string;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface PauseResult {
  /** true */
  paused: boolean;
  /** output frame where the fade starts */
  frame: number;
  /** its length */
  fade_frames: number;
  /** where the silence starts */
  end_frame: number;
}

/** `resume`'s named parameters (its positional order is this order). */
export interface ResumeParams {
  /** at least 1 ms, at most 60 s (default: "10ms") */
  fade?: number | string;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface ResumeResult {
  /** false */
  paused: boolean;
  /** output frame where the music continues */
  frame: number;
  /** the fade-in's length */
  fade_frames: number;
  /** where it ends */
  end_frame: number;
}

/** `volume`'s named parameters (its positional order is this order). */
export interface VolumeParams {
  /** `min_volume_db` (silence)..`max_volume_db` */
  db: number;
  /** at least 1 ms, at most 60 s (default: "50ms") */
  ramp?: number | string;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface VolumeResult {
  /** the volume asked for */
  db: number;
  /** where the ramp starts */
  frame: number;
  /** its length */
  ramp_frames: number;
  /** where it ends */
  end_frame: number;
}

/** `snapshot`'s named parameters (its positional order is this order). */
export interface SnapshotParams {
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface SnapshotResult {
  /** opaque: give it back to `restore` as it is */
  snapshot: Record<string, unknown>;
  /** the output frame whose music it describes (`earliest_frame`: the 2 ms already mixed are not in it) */
  frame: number;
}

/** `restore`'s named parameters (its positional order is this order). */
export interface RestoreParams {
  /** a `snapshot` result's `snapshot` from a server playing the same graph */
  snapshot: Record<string, unknown>;
  /** the music instance (`open_session`); 0 is the one every server has (default: 0) */
  session?: number;
}

export interface RestoreResult {
  /** true */
  restored: boolean;
  /** the output frame it continues from (0) */
  frame: number;
  /** the state playing */
  state: string | null;
  /** the session */
  session: number;
}

/** `open_session`'s named parameters (its positional order is this order). */
export interface OpenSessionParams {
  /** another bank or graph (needs `--allow-load`) (default: nil) */
  path?: string;
  /** 0..2^63-1 (default: the graph's seed) */
  seed?: number;
}

export interface OpenSessionResult {
  /** its id */
  session: number;
  /** true */
  loaded: boolean;
  /** its seed */
  seed: number;
  /** Hz */
  sample_rate: number;
  /** channels */
  channels: number;
  /** the graph's name */
  graph: string;
  /** the name of the graph or bank served (its last path component) */
  source: string;
  /** the graph's states */
  states: string[];
  /** the state `start` plays by default */
  start_state: string;
  /** the events transitions react to */
  events: string[];
  /** stingers (each may also be posted as an event) */
  stingers: string[];
  /** the game parameters */
  params: Record<string, ParamInfo>;
}

/** `close_session`'s named parameters (its positional order is this order). */
export interface CloseSessionParams {
  /** its id */
  session: number;
}

export interface CloseSessionResult {
  /** true */
  closed: boolean;
  /** its id */
  session: number;
}

/** `shutdown`'s named parameters (its positional order is this order). */
export interface ShutdownParams {
}

export interface ShutdownResult {
  /** true */
  shutting_down: boolean;
}

export interface Methods {
  hello: { params: HelloParams; result: HelloResult; role: 'monitor' };
  status: { params: StatusParams; result: StatusResult; role: 'monitor' };
  subscribe: { params: SubscribeParams; result: SubscribeResult; role: 'monitor' };
  unsubscribe: { params: UnsubscribeParams; result: UnsubscribeResult; role: 'monitor' };
  ping: { params: PingParams; result: PingResult; role: 'monitor' };
  load: { params: LoadParams; result: LoadResult; role: 'control' };
  start: { params: StartParams; result: StartResult; role: 'control' };
  event: { params: EventParams; result: EventResult; role: 'control' };
  set_param: { params: SetParamParams; result: SetParamResult; role: 'control' };
  render: { params: RenderParams; result: RenderResult; role: 'control' };
  stop: { params: StopParams; result: StopResult; role: 'control' };
  pause: { params: PauseParams; result: PauseResult; role: 'control' };
  resume: { params: ResumeParams; result: ResumeResult; role: 'control' };
  volume: { params: VolumeParams; result: VolumeResult; role: 'control' };
  snapshot: { params: SnapshotParams; result: SnapshotResult; role: 'control' };
  restore: { params: RestoreParams; result: RestoreResult; role: 'control' };
  open_session: { params: OpenSessionParams; result: OpenSessionResult; role: 'control' };
  close_session: { params: CloseSessionParams; result: CloseSessionResult; role: 'control' };
  shutdown: { params: ShutdownParams; result: ShutdownResult; role: 'control' };
}

export type MethodName = keyof Methods;
