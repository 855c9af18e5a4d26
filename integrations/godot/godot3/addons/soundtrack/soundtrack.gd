# The Soundtrack node (Godot 3.2+): starts or connects to `soundtrack serve`, plays its music
# through an AudioStreamGenerator, posts events, sets parameters, and turns the server's
# notifications into signals. Add it to a scene (or an autoload) and call post_event().
class_name Soundtrack, "res://addons/soundtrack/icon.svg"
extends Node

const Client = preload("soundtrack_client.gd")
const MsgPack = preload("msgpack.gd")

signal started(info)                                  # the server's `hello` result
signal beat(frame, bar_number, beat_number)           # a beat sounds at output frame `frame`
signal bar(frame, bar_number)                         # a bar starts at `frame`
signal transition(from_state, to_state, event, frame) # a transition's edit point sounds at `frame`
signal state_changed(state, frame)                    # the state that owns the grid changes
signal notification_received(kind, payload)           # every notification
signal failed(message)                                # cannot connect, an error response

export var host := "127.0.0.1"
export var port := 7700
export var start_server := false                      # run `server_command serve server_source`
export var server_command := "soundtrack"
export var server_source := "graphs/dungeon.toml"
export var connect_timeout := 30.0                    # seconds (a child server may build its bank)
export var session_seed := -1                         # -1 keeps the graph's
export var start_state := ""
export var autoplay := true
export var block_frames := 1024
export var buffer_seconds := 0.1                      # latency from an event to the sound
export var bus := "Master"

var client
var info := {}
var _player: AudioStreamPlayer
var _playback: AudioStreamGeneratorPlayback
var _server_pid := -1


func _ready() -> void:
	if autoplay:
		begin()


# Start (or connect to) the server, load, subscribe, start and play. Returns true on success.
func begin() -> bool:
	if start_server:
		_server_pid = OS.execute(server_command, ["serve", server_source, "--tcp", "%s:%d" % [host, port]], false)
		if _server_pid < 0:
			emit_signal("failed", "cannot start %s (is soundtrack installed and on PATH?)" % server_command)
			return false
	client = Client.new()
	var deadline := OS.get_ticks_msec() + int(connect_timeout * 1000)
	while client.connect_to(host, port, 1000) != OK:
		if OS.get_ticks_msec() > deadline:
			emit_signal("failed", "cannot connect to soundtrack serve at %s:%d" % [host, port])
			client = null
			return false
		OS.delay_msec(200)
		client = Client.new()
	client.connect("notification_received", self, "_on_notification")
	var r: Dictionary = client.hello("controller")
	if r.error == null:
		info = r.result
		r = client.load_session(session_seed)
	if r.error == null:
		r = client.subscribe(["beat", "bar", "transition", "state", "segment", "stinger"])
	if r.error == null:
		r = client.start(start_state)
	if r.error != null:
		emit_signal("failed", str(r.error.message))
		return false
	var gen := AudioStreamGenerator.new()
	gen.mix_rate = info.sample_rate
	gen.buffer_length = buffer_seconds
	_player = AudioStreamPlayer.new()
	_player.stream = gen
	_player.bus = bus
	add_child(_player)
	_player.play()
	_playback = _player.get_stream_playback()
	emit_signal("started", info)
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
			emit_signal("failed", "render: %s" % r.error.message)
			_playback = null
			return
		_playback.push_buffer(MsgPack.pcm_to_frames(r.result.pcm, r.result.channels))


# Post a game event. Returns the plan (edit_frame, position, from, to, ...) or {} on error.
# It is scheduled at the frame being pulled, about buffer_seconds ahead of what is heard.
func post_event(event: String) -> Dictionary:
	return _result("event", client.post_event(event))


func set_param(param: String, value: float) -> Dictionary:
	return _result("set_param", client.set_param(param, value))


func _result(what: String, r: Dictionary) -> Dictionary:
	if r.error != null:
		emit_signal("failed", "%s: %s" % [what, r.error.message])
		return {}
	return r.result


func _on_notification(kind: String, p: Dictionary) -> void:
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


func _exit_tree() -> void:
	if client != null:
		client.close()
	if _server_pid > 0:
		OS.kill(_server_pid)
