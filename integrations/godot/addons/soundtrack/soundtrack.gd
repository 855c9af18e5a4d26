# The Soundtrack node (Godot 4): starts or connects to `soundtrack serve`, plays its music
# through an AudioStreamGenerator, posts events, sets parameters, and turns the server's
# notifications into signals. Add it to a scene (or an autoload) and call post_event().
@icon("icon.svg")
class_name Soundtrack
extends Node

const Client = preload("soundtrack_client.gd")
const MsgPack = preload("msgpack.gd")

## Emitted once connected and started; `info` is the server's `hello` result.
signal started(info: Dictionary)
## A beat sounds at output frame `frame` (bar and beat of the playing state's grid).
signal beat(frame: int, bar_number: int, beat_number: int)
## A bar starts at output frame `frame`.
signal bar(frame: int, bar_number: int)
## A transition's edit point sounds at `frame` (the plan's edit_frame).
signal transition(from_state: String, to_state: String, event: String, frame: int)
## The state that owns the grid changes at `frame`.
signal state_changed(state: String, frame: int)
## Every notification, including kinds without their own signal (segment, stinger, error).
signal notification_received(kind: String, payload: Dictionary)
## Something went wrong (cannot connect, an error response); the message says what.
signal failed(message: String)

@export var host := "127.0.0.1"
@export var port := 7700
## Start `server_command serve server_source --tcp host:port` as a child process.
@export var start_server := false
@export var server_command := "soundtrack"
## The graph (.toml) or bank directory the child server serves (a path on this machine).
@export var server_source := "graphs/dungeon.toml"
## Seconds to keep trying to connect (a child server may be building its bank).
@export var connect_timeout := 30.0
## Session seed; -1 keeps the graph's.
@export var session_seed := -1
## State to start in; empty starts the graph's start state.
@export var start_state := ""
@export var autoplay := true
@export var block_frames := 1024
## Audio buffered ahead in seconds: the latency from an event to the sound it changes.
@export var buffer_seconds := 0.1
@export var bus := &"Master"

var client: Client
var info := {}
var _player: AudioStreamPlayer
var _playback: AudioStreamGeneratorPlayback
var _server_pid := -1


func _ready() -> void:
	if autoplay:
		begin()


## Start (or connect to) the server, load, subscribe, start and play. Returns true on success.
func begin() -> bool:
	if start_server:
		_server_pid = OS.create_process(server_command, ["serve", server_source, "--tcp", "%s:%d" % [host, port]])
		if _server_pid < 0:
			failed.emit("cannot start %s (is soundtrack installed and on PATH?)" % server_command)
			return false
	client = Client.new()
	var deadline := Time.get_ticks_msec() + int(connect_timeout * 1000)
	while client.connect_to(host, port, 1000) != OK:
		if Time.get_ticks_msec() > deadline:
			failed.emit("cannot connect to soundtrack serve at %s:%d" % [host, port])
			client = null
			return false
		OS.delay_msec(200)
		client = Client.new()
	client.notification_received.connect(_on_notification)
	var steps := [
		["hello", func(): return client.hello("controller")],
		["load", func(): return client.load_session(session_seed)],
		["subscribe", func(): return client.subscribe(["beat", "bar", "transition", "state", "segment", "stinger"])],
		["start", func(): return client.start(start_state)],
	]
	for step in steps:
		var r: Dictionary = step[1].call()
		if r.error != null:
			failed.emit("%s: %s" % [step[0], r.error.message])
			return false
		if step[0] == "hello":
			info = r.result
	var gen := AudioStreamGenerator.new()
	gen.mix_rate = info.sample_rate
	gen.buffer_length = buffer_seconds
	_player = AudioStreamPlayer.new()
	_player.stream = gen
	_player.bus = bus
	add_child(_player)
	_player.play()
	_playback = _player.get_stream_playback()
	started.emit(info)
	return true


func _process(_delta: float) -> void:
	if client == null:
		return
	client.poll()
	if _playback == null:
		return
	# Loopback round trips take a fraction of a millisecond, so pulling synchronously here
	# keeps the generator full without a thread.
	while _playback.get_frames_available() >= block_frames:
		var r: Dictionary = client.render(block_frames)
		if r.error != null:
			failed.emit("render: %s" % r.error.message)
			_playback = null
			return
		_playback.push_buffer(MsgPack.pcm_to_frames(r.result.pcm, r.result.channels))


## Post a game event. Returns the plan (edit_frame, position, from, to, ...) or {} on error.
## It is scheduled at the frame being pulled, about buffer_seconds ahead of what is heard.
func post_event(event: String) -> Dictionary:
	return _result("event", client.post_event(event))


## Set a game parameter (e.g. "intensity"); returns {frame, end_frame, ...} or {} on error.
func set_param(param: String, value: float) -> Dictionary:
	return _result("set_param", client.set_param(param, value))


func _result(what: String, r: Dictionary) -> Dictionary:
	if r.error != null:
		failed.emit("%s: %s" % [what, r.error.message])
		return {}
	return r.result


func _on_notification(kind: String, p: Dictionary) -> void:
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


func _exit_tree() -> void:
	if client != null:
		client.close()
	if _server_pid > 0:
		OS.kill(_server_pid)
