# The Soundtrack node (Godot 4): starts or connects to `soundtrack serve`, plays its music
# through an AudioStreamGenerator, posts events, sets parameters, and turns the music's markers
# into signals raised when they are *heard*. Add it to a scene (or an autoload).
#
# A worker Thread owns the connection: it connects (and reconnects after a server restart),
# loads, starts, runs the events you post, keeps render requests in flight and decodes each
# block (bytes_to_var: no per-sample GDScript). The main thread never waits on the network: in
# _process it pushes decoded blocks into the generator and raises the markers whose frame has
# reached the speaker (frames pushed, less what the generator still holds, less the driver's
# output latency). post_event() returns at once; the plan arrives with `planned`.
@icon("icon.svg")
class_name Soundtrack
extends Node

const Client = preload("soundtrack_client.gd")
const MsgPack = preload("msgpack.gd")

## The first connection: the server's `hello` result.
signal started(info: Dictionary)
## Every (re)connection; a new server starts a new session at frame 0.
signal connected(info: Dictionary)
## The connection was lost; the node retries every retry_seconds and keeps playing what it has.
signal connection_lost(message: String)
## A beat is heard (output frame `frame`, bar and beat of the playing state's grid).
signal beat(frame: int, bar_number: int, beat_number: int)
## A bar starts, as heard.
signal bar(frame: int, bar_number: int)
## A transition's edit point is heard (the plan's edit_frame).
signal transition(from_state: String, to_state: String, event: String, frame: int)
## The state that owns the grid changes, as heard.
signal state_changed(state: String, frame: int)
## Every marker when heard (segment, stinger, ... included), and other command results.
signal notification_received(kind: String, payload: Dictionary)
## post_event's plan (edit_frame, position, from, to, ...), once the server answered.
signal planned(event: String, plan: Dictionary)
## An error response, or a server that cannot be started; the message says what.
signal failed(message: String)

@export var host := "127.0.0.1"
@export var port := 7700
## Start `server_command serve server_source --tcp host:port` as a child process.
@export var start_server := false
@export var server_command := "soundtrack"
## The graph (.toml) or bank directory the child server serves (a path on this machine).
@export var server_source := "graphs/dungeon.toml"
## Seconds between connection attempts (a child server may still be starting).
@export var retry_seconds := 0.5
## A response later than this (ms): the server is treated as gone and the node reconnects.
@export var timeout_ms := 2000
## Session seed; -1 keeps the graph's.
@export var session_seed := -1
## State to start in; empty starts the graph's start state.
@export var start_state := ""
@export var autoplay := true
## The server's sample rate (hello says); the generator resamples to the engine's mix rate.
@export var sample_rate := 48000
@export var block_frames := 1024
## Render requests kept outstanding.
@export var in_flight := 2
## Decoded blocks waiting for the main thread to push them: each frame pushes at most these, so
## raise it if the game can run below about 25 fps (48000 / (2 x 1024)); each adds a block of latency.
@export var queue_blocks := 2
## The generator's buffer in seconds: the latency from an event to the sound it changes.
@export var buffer_seconds := 0.1
@export var bus := &"Master"

var info := {}
var _player: AudioStreamPlayer
var _playback: AudioStreamGeneratorPlayback
var _server_pid := -1
var _thread: Thread
var _mutex := Mutex.new()
var _running := false
# shared with the worker, under _mutex
var _ready_blocks := []    # [session, first frame, PackedVector2Array] decoded, waiting for room
var _arrived := []         # [session, kind, payload]: markers, plans, connection news
var _commands := []        # [method, params, kind]
var _connected := false
# main thread only
var _capacity := 0         # frames the generator holds when full
var _pushed := 0           # frames pushed into the generator, all sessions
var _offsets := {}         # session -> pushed frame of its frame 0
var _due := []             # [session, frame, kind, payload] in frame order
var _session := 0          # worker only


func _ready() -> void:
	if autoplay:
		begin()


# Start playing and start the worker (returns at once); `started` follows once connected.
func begin() -> bool:
	if _running:
		return true
	if start_server:
		_server_pid = OS.create_process(server_command, ["serve", server_source, "--tcp", "%s:%d" % [host, port]])
		if _server_pid < 0:
			failed.emit("cannot start %s (is soundtrack installed and on PATH?)" % server_command)
			return false
	var gen := AudioStreamGenerator.new()
	gen.mix_rate = sample_rate
	gen.buffer_length = buffer_seconds
	_player = AudioStreamPlayer.new()
	_player.stream = gen
	_player.bus = bus
	add_child(_player)
	_player.play()
	_playback = _player.get_stream_playback()
	_capacity = _playback.get_frames_available()
	_running = true
	_thread = Thread.new()
	_thread.start(_work)
	return true


# Post a game event; returns at once. The plan comes with `planned(event, plan)`. The event is
# scheduled at the frame being pulled, about buffer_seconds ahead of the frame being heard.
func post_event(event: String) -> void:
	send_command("event", [event], "plan")


func set_param(param: String, value: float) -> void:
	send_command("set_param", [param, value], "set_param")


# Any method, run by the worker; its result comes back as notification_received(kind, result).
func send_command(method: String, params: Array, kind: String) -> void:
	_mutex.lock()
	_commands.append([method, params, kind])
	_mutex.unlock()


func is_connected_to_server() -> bool:
	return _connected


# The output frame being heard now, in the current session's frames (-1 before any sound).
func heard_frame() -> int:
	if _playback == null or not _offsets.has(_last_session()):
		return -1
	return _heard_total() - _offsets[_last_session()]


# Frames pushed into the generator so far (all sessions), for measurements.
func pushed_frames() -> int:
	return _pushed


func _last_session() -> int:
	var last := -1
	for s in _offsets:
		last = maxi(last, s)
	return last


func _heard_total() -> int:
	var held := _capacity - _playback.get_frames_available()
	return _pushed - held - int(AudioServer.get_output_latency() * sample_rate)


func _process(_delta: float) -> void:
	if _playback == null:
		return
	_mutex.lock()
	var news := _arrived
	_arrived = []
	while _ready_blocks.size() > 0 and _playback.get_frames_available() >= _ready_blocks[0][2].size():
		var b: Array = _ready_blocks.pop_front()
		if not _offsets.has(b[0]):
			_offsets[b[0]] = _pushed - b[1]
		_playback.push_buffer(b[2])
		_pushed += b[2].size()
	_mutex.unlock()
	for n in news:
		if n[1] == "marker":
			_due.append([n[0], n[2].frame, n[2].get("kind", ""), n[2]])
		else:
			_raise_news(n[1], n[2])
	var heard := _heard_total()
	while _due.size() > 0 and _offsets.has(_due[0][0]) and _offsets[_due[0][0]] + _due[0][1] <= heard:
		var d: Array = _due.pop_front()
		_raise_marker(d[2], d[3])


func _raise_news(kind: String, p: Dictionary) -> void:
	match kind:
		"connected":
			var first := info.is_empty()
			info = p
			connected.emit(p)
			if first:
				started.emit(p)
		"lost":
			connection_lost.emit(p.message)
		"plan":
			planned.emit(p.get("event", ""), p)
		"error":
			failed.emit(str(p.get("message", p)))
		_:
			notification_received.emit(kind, p)


func _raise_marker(kind: String, p: Dictionary) -> void:
	match kind:
		"beat":
			beat.emit(p.frame, p.get("bar", 0), p.get("beat", 0))
		"bar":
			bar.emit(p.frame, p.get("bar", 0))
		"transition":
			transition.emit(p.get("from", ""), p.get("to", ""), p.get("event", ""), p.frame)
		"state":
			state_changed.emit(p.state, p.frame)
	notification_received.emit(kind, p)


# -- the worker thread: the only code that touches the socket ----------------------------------

func _post(kind: String, payload) -> void:
	_mutex.lock()
	_arrived.append([_session, kind, payload])
	_mutex.unlock()


# hello, load, start: the hello result, or {} when a step failed.
func _start_session(c) -> Dictionary:
	var r: Dictionary = c.hello("controller")
	var hello: Dictionary = r.result if r.result is Dictionary else {}
	if r.error == null:
		if int(hello.sample_rate) != sample_rate:
			_post("error", {"message": "the server renders at %d Hz; set sample_rate = %d" % [hello.sample_rate, hello.sample_rate]})
		r = c.load_session(session_seed)
	if r.error == null:
		r = c.start(start_state)
	if r.error != null:
		if int(r.error.code) >= 0:
			_post("error", r.error)
		return {}
	return hello


func _work() -> void:
	var c = null
	var next_try := 0
	var flight := []
	while _running:
		if c == null:
			if Time.get_ticks_msec() < next_try:
				OS.delay_msec(5)
				continue
			next_try = Time.get_ticks_msec() + int(retry_seconds * 1000)
			c = Client.new()
			c.timeout_ms = timeout_ms
			var hello := {}
			if c.connect_to(host, port, 1000) == OK:
				hello = _start_session(c)
			if hello.is_empty():
				c.close()
				c = null
				continue
			_session += 1
			flight = []
			_mutex.lock()
			_connected = true
			_mutex.unlock()
			_post("connected", hello)
		if not _pull(c, flight):
			c.close()
			c = null
			_mutex.lock()
			_connected = false
			_mutex.unlock()


# One round of the worker: run posted commands, keep renders in flight, decode what came back.
# Returns false when the connection is gone.
func _pull(c, flight: Array) -> bool:
	_mutex.lock()
	var todo := _commands
	_commands = []
	var waiting := 0
	for b in _ready_blocks:
		waiting += b[2].size()
	_mutex.unlock()
	for cmd in todo:
		var r: Dictionary = c.call_sync(cmd[0], cmd[1])
		if r.error != null and int(r.error.code) < 0:
			_post("lost", {"message": r.error.message})
			return false
		_post(cmd[2] if r.error == null else "error", r.result if r.error == null else r.error)
	# keep queue_blocks decoded (or on their way) for the main thread to push
	while flight.size() < in_flight and waiting + flight.size() * block_frames < queue_blocks * block_frames:
		var id: int = c.send_request("render", [block_frames, "f32"])
		if id < 0:
			_post("lost", {"message": c.last_error})
			return false
		flight.append([id, Time.get_ticks_msec()])
	if flight.size() == 0:
		OS.delay_msec(2)
		return true
	var r = c.take_response(flight[0][0])
	if r == null:
		if not c.is_connected_to_server() or Time.get_ticks_msec() - flight[0][1] > timeout_ms:
			_post("lost", {"message": c.last_error if c.last_error != "" else "no response within %d ms" % timeout_ms})
			return false
		OS.delay_usec(500)
		return true
	flight.pop_front()
	if r.error != null:
		_post("error", r.error)
		OS.delay_msec(50)
		return true
	var b: Dictionary = r.result
	var frames: PackedVector2Array = MsgPack.pcm_to_frames(b.pcm, b.channels)
	_mutex.lock()
	_ready_blocks.append([_session, b.frame, frames])
	for m in b.get("markers", []):
		_arrived.append([_session, "marker", m])
	_mutex.unlock()
	return true


func _exit_tree() -> void:
	_running = false
	if _thread != null:
		_thread.wait_to_finish()
		_thread = null
	if _server_pid > 0:
		OS.kill(_server_pid)
