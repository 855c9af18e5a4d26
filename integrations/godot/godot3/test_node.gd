# Headless check of the Soundtrack node (Godot 3): it connects on its worker thread, pulls audio
# into its AudioStreamGenerator as the (dummy) driver drains it, posts an event, and raises its
# signals when each marker reaches the speaker.
#   SOUNDTRACK_TCP=HOST:PORT SOUNDTRACK_EVENT=enemy godot3-server --no-window --path . -s test_node.gd
# Prints: started, signal NAME ARGS..., heard KIND FRAME speaker=FRAME pulled=FRAME,
# plan edit_frame=N, done frame=N
extends SceneTree

const SoundtrackNode = preload("res://addons/soundtrack/soundtrack.gd")

var node
var frames := 0
var plan := {}
var posted := false


func _init() -> void:
	var addr := OS.get_environment("SOUNDTRACK_TCP").rsplit(":", true, 1)
	node = SoundtrackNode.new()
	node.host = addr[0]
	node.port = int(addr[1])
	node.autoplay = false
	node.session_seed = 11
	node.connect("started", self, "_on_started")
	node.connect("beat", self, "_on_beat")
	node.connect("bar", self, "_on_bar")
	node.connect("transition", self, "_on_transition")
	node.connect("state_changed", self, "_on_state")
	node.connect("notification_received", self, "_on_marker")
	node.connect("planned", self, "_on_planned")
	node.connect("failed", self, "_on_failed")
	root.add_child(node)
	if not node.begin():
		quit(1)


# What the engine says has left the generator for the speaker (the node must not be ahead of it).
func _speaker() -> int:
	var pb: AudioStreamGeneratorPlayback = node._playback
	return node.pushed_frames() - (node._capacity - pb.get_frames_available()) - int(AudioServer.get_output_latency() * 48000)


func _on_started(info) -> void:
	print("started sample_rate=%d" % info.sample_rate)


func _on_marker(kind, p) -> void:
	if typeof(p) == TYPE_DICTIONARY and p.has("frame"):
		print("heard %s %d speaker=%d pulled=%d" % [kind, p.frame, _speaker(), node.pushed_frames()])


func _on_beat(frame, bar_number, beat_number) -> void:
	print("signal beat %d %d %d" % [frame, bar_number, beat_number])


func _on_bar(frame, bar_number) -> void:
	print("signal bar %d %d" % [frame, bar_number])


func _on_transition(from_state, to_state, event, frame) -> void:
	print("signal transition %s %s %s %d" % [from_state, to_state, event, frame])


func _on_state(state, frame) -> void:
	print("signal state_changed %s %d" % [state, frame])


func _on_planned(_event, p) -> void:
	plan = p
	print("plan edit_frame=%d" % p.edit_frame)


func _on_failed(message) -> void:
	printerr("FAIL %s" % message)
	quit(1)


func _idle(_delta: float) -> bool:
	frames += 1
	if not posted and node.heard_frame() > 4096:
		node.post_event(OS.get_environment("SOUNDTRACK_EVENT"))
		posted = true
	if not plan.empty() and node.heard_frame() > plan.edit_frame + 4096:
		print("done frame=%d" % node.heard_frame())
		node.queue_free()
		quit(0)
		return true
	if frames > 200000:
		print("done frame=%d (gave up)" % node.heard_frame())
		quit(1)
		return true
	return false
