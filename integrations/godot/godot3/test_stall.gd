# The Soundtrack node keeps the game running while its server stalls, and reconnects after
#   SOUNDTRACK_TCP=HOST:PORT godot3-server --no-window --path . -s test_stall.gd
# (tests/test_integrations.py stops the server with SIGSTOP once this prints "ready", for longer
# than the node's 2 s timeout, then lets it go on). Prints "frame-gap max_ms=N", connection news,
# and "done connected=N lost=N heard=FRAME".
extends SceneTree

const SoundtrackNode = preload("res://addons/soundtrack/soundtrack.gd")

var node
var last_ms := 0
var max_gap := 0
var connected := 0
var lost := 0
var ready_ms := -1
var started_ms := 0


func _init() -> void:
	var addr := OS.get_environment("SOUNDTRACK_TCP").rsplit(":", true, 1)
	node = SoundtrackNode.new()
	node.host = addr[0]
	node.port = int(addr[1])
	node.autoplay = false
	node.connect("connected", self, "_on_connected")
	node.connect("connection_lost", self, "_on_lost")
	root.add_child(node)
	node.begin()  # returns at once: no server round trip on the main thread
	started_ms = OS.get_ticks_msec()
	last_ms = started_ms
	print("begin returned in %d ms" % (OS.get_ticks_msec() - started_ms))


func _on_connected(_info) -> void:
	connected += 1
	print("connected %d" % connected)


func _on_lost(message) -> void:
	lost += 1
	print("lost %s" % message)


func _idle(_delta: float) -> bool:
	var now := OS.get_ticks_msec()
	if ready_ms >= 0:
		max_gap = max(max_gap, now - last_ms)
	last_ms = now
	if ready_ms < 0 and connected == 1 and node.heard_frame() > 8192:
		ready_ms = now
		print("ready")
	if (connected >= 2 and node.heard_frame() > 8192) or now - started_ms > 40000:
		print("frame-gap max_ms=%d" % max_gap)
		print("done connected=%d lost=%d heard=%d" % [connected, lost, node.heard_frame()])
		node.queue_free()
		quit(0)
		return true
	OS.delay_msec(2)  # a game frame's work
	return false
