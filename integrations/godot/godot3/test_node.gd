# Headless check of the Soundtrack node (Godot 3): it connects, starts, pulls audio into its
# AudioStreamGenerator as the engine asks, posts an event, and emits its signals.
#   SOUNDTRACK_TCP=HOST:PORT SOUNDTRACK_EVENT=enemy godot3-server --no-window --path . -s test_node.gd
# Prints: started, signal NAME ARGS..., plan edit_frame=N, done frame=N
extends SceneTree

const SoundtrackNode = preload("res://addons/soundtrack/soundtrack.gd")

var node
var frames := 0
var plan := {}


func _init() -> void:
	var addr := OS.get_environment("SOUNDTRACK_TCP").rsplit(":", true, 1)
	node = SoundtrackNode.new()
	node.host = addr[0]
	node.port = int(addr[1])
	node.autoplay = false
	node.session_seed = 11
	node.connect("beat", self, "_on_beat")
	node.connect("bar", self, "_on_bar")
	node.connect("transition", self, "_on_transition")
	node.connect("state_changed", self, "_on_state")
	node.connect("failed", self, "_on_failed")
	root.add_child(node)
	if not node.begin():
		quit(1)
		return
	print("started sample_rate=%d" % node.info.sample_rate)


func _on_beat(frame, bar_number, beat_number) -> void:
	print("signal beat %d %d %d" % [frame, bar_number, beat_number])


func _on_bar(frame, bar_number) -> void:
	print("signal bar %d %d" % [frame, bar_number])


func _on_transition(from_state, to_state, event, frame) -> void:
	print("signal transition %s %s %s %d" % [from_state, to_state, event, frame])


func _on_state(state, frame) -> void:
	print("signal state_changed %s %d" % [state, frame])


func _on_failed(message) -> void:
	printerr("FAIL %s" % message)
	quit(1)


func _idle(_delta: float) -> bool:
	frames += 1
	if frames == 3:
		plan = node.post_event(OS.get_environment("SOUNDTRACK_EVENT"))
		print("plan edit_frame=%d" % plan.edit_frame)
	var status: Dictionary = node.client.status().result
	if frames > 3 and status.frame > plan.edit_frame + 4096:
		print("done frame=%d" % status.frame)
		node.queue_free()
		quit(0)
		return true
	if frames > 2000:
		print("done frame=%d (gave up)" % status.frame)
		quit(1)
		return true
	return false
