# Re-entrancy of the Godot 3 client against a live server (tests/test_integrations.py):
#   SOUNDTRACK_TCP=HOST:PORT SOUNDTRACK_SEED=11 SOUNDTRACK_EVENT=enemy godot3-server --no-window --path . -s test_reentrant.gd
# Every notification handler calls status(); the handler of the beat at frame 24000 posts the
# event. Prints: note KIND FRAME status=FRAME, nested-plan ..., block FRAME FRAMES, done.
extends SceneTree

const Client = preload("res://addons/soundtrack/soundtrack_client.gd")
const BLOCK = 1024

var client
var edit := -1


func _init() -> void:
	quit(_run())


func _on_note(kind, p) -> void:
	var s: Dictionary = client.status()
	print("note %s %d status=%d" % [kind, p.frame, s.result.frame])
	if kind == "beat" and p.frame == 24000:
		var plan: Dictionary = client.post_event(OS.get_environment("SOUNDTRACK_EVENT")).result
		edit = plan.edit_frame
		print("nested-plan accepted=%s edit_frame=%d" % ["true" if plan.accepted else "false", plan.edit_frame])


func _run() -> int:
	var addr := OS.get_environment("SOUNDTRACK_TCP").rsplit(":", true, 1)
	client = Client.new()
	client.timeout_ms = 5000
	if client.connect_to(addr[0], int(addr[1])) != OK:
		printerr("FAIL cannot connect")
		return 1
	client.hello("controller")
	client.connect("notification_received", self, "_on_note")
	client.subscribe(["beat", "bar", "transition", "state"])
	client.load_session(int(OS.get_environment("SOUNDTRACK_SEED")))
	client.start()
	var frame := 0
	while (edit < 0 or frame < edit + 4 * BLOCK) and frame <= 200000:
		var r: Dictionary = client.render(BLOCK)
		if r.error != null:
			printerr("FAIL render: %s" % r.error)
			return 1
		print("block %d %d" % [r.result.frame, r.result.frames])
		frame += r.result.frames
	print("done frames=%d" % frame)
	client.close()
	return 0
