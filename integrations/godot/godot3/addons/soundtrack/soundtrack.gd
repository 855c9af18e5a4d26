# The Soundtrack node (Godot 3.2+): starts or connects to `soundtrack serve`, plays its music
# through an AudioStreamGenerator, posts events, sets parameters, and turns the music's markers
# into signals raised when they are *heard*. Add it to a scene (or an autoload).
#
# A worker Thread owns the connection: it connects (and reconnects after a server restart),
# loads, starts, runs the events you post, keeps render requests in flight and decodes each
# block (bytes2var: no per-sample GDScript). The main thread never waits on the network: in
# _process it pushes decoded blocks into the generator and raises the markers whose frame has
# reached the speaker (frames pushed, less what the generator still holds, less the driver's
# output latency). post_event() returns at once; the plan arrives with `planned`.
class_name Soundtrack, "res://addons/soundtrack/icon.svg"
extends Node

const Client = preload("soundtrack_client.gd")
const MsgPack = preload("msgpack.gd")

signal started(info)                                  # the first connection: the server's `hello`
signal connected(info)                                # every (re)connection; a new server starts at frame 0
signal connection_lost(message)                       # the player retries every retry_seconds
signal beat(frame, bar_number, beat_number)           # a beat is heard (output frame `frame`)
signal bar(frame, bar_number)                         # a bar starts, as heard
signal transition(from_state, to_state, event, frame) # a transition's edit point is heard
signal state_changed(state, frame)                    # the state that owns the grid changes, as heard
signal notification_received(kind, payload)           # every marker, when heard
signal planned(event, plan)                           # post_event's plan, once the server answered
signal failed(message)                                # an error response, a server that cannot start

export var host := "127.0.0.1"
export var port := 7700
export var start_server := false                      # run `server_command serve server_source`
export var server_command := "soundtrack"
export var server_source := "graphs/dungeon.toml"
export var retry_seconds := 0.5                       # between connection attempts
export var timeout_ms := 2000                         # a response later than this: the server is gone
export var session_seed := -1                         # -1 keeps the graph's
export var start_state := ""
export var autoplay := true
export var sample_rate := 48000                       # the server's (hello says); the generator resamples to the mix rate
export var block_frames := 1024
export var in_flight := 2                             # render requests outstanding
export var queue_blocks := 2                          # decoded blocks waiting for the main thread (raise it below ~25 fps)
export var buffer_seconds := 0.1                      # the generator's buffer: latency from an event to the sound
export var bus := "Master"

var info := {}
var _player: AudioStreamPlayer
var _playback: AudioStreamGeneratorPlayback
var _server_pid := -1
var _thread: Thread
var _mutex := Mutex.new()
var _running := false
# shared with the worker, under _mutex
var _ready_blocks := []    # [session, first frame, PoolVector2Array] decoded, waiting for room
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
		_server_pid = OS.execute(server_command, ["serve", server_source, "--tcp", "%s:%d" % [host, port]], false)
		if _server_pid < 0:
			emit_signal("failed", "cannot start %s (is soundtrack installed and on PATH?)" % server_command)
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
	_thread.start(self, "_work", null)
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
		last = max(last, s)
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


func _raise_news(kind: String, p) -> void:
	match kind:
		"connected":
			var first := info.empty()
			info = p
			emit_signal("connected", p)
			if first:
				emit_signal("started", p)
		"lost":
			emit_signal("connection_lost", p.message)
		"plan":
			emit_signal("planned", p.get("event", ""), p)
		"error":
			emit_signal("failed", p.message)
		_:
			emit_signal("notification_received", kind, p)


func _raise_marker(kind: String, p: Dictionary) -> void:
	match kind:
		"beat":
			emit_signal("beat", p.frame, p.get("bar", 0), p.get("beat", 0))
		"bar":
			emit_signal("bar", p.frame, p.get("bar", 0))
		"transition":
			emit_signal("transition", p.get("from", ""), p.get("to", ""), p.get("event", ""), p.frame)
		"state":
			emit_signal("state_changed", p.state, p.frame)
	emit_signal("notification_received", kind, p)


# -- the worker thread: the only code that touches the socket ----------------------------------

func _post(kind: String, payload) -> void:
	_mutex.lock()
	_arrived.append([_session, kind, payload])
	_mutex.unlock()


# hello, load, start: the hello result, or {} when a step failed.
func _start_session(c) -> Dictionary:
	var r: Dictionary = c.hello("controller")
	var hello = r.result
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


func _work(_userdata) -> void:
	var c = null
	var next_try := 0
	var flight := []
	while _running:
		if c == null:
			if OS.get_ticks_msec() < next_try:
				OS.delay_msec(5)
				continue
			next_try = OS.get_ticks_msec() + int(retry_seconds * 1000)
			c = Client.new()
			c.timeout_ms = timeout_ms
			var hello := {}
			if c.connect_to(host, port, 1000) == OK:
				hello = _start_session(c)
			if hello.empty():
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
		flight.append([id, OS.get_ticks_msec()])
	if flight.size() == 0:
		OS.delay_msec(2)
		return true
	var r = c.take_response(flight[0][0])
	if r == null:
		if not c.is_connected_to_server() or OS.get_ticks_msec() - flight[0][1] > timeout_ms:
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
	var frames: PoolVector2Array = MsgPack.pcm_to_frames(b.pcm, b.channels)
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
