# The conformance run of the Godot 3 client against a live server, headless:
#   SOUNDTRACK_TCP=HOST:PORT SOUNDTRACK_EVENT=enemy SOUNDTRACK_SEED=11 SOUNDTRACK_PRE_BLOCKS=4 \
#   SOUNDTRACK_OUT=out.f32 godot3-server --no-window --path integrations/godot/godot3 -s test_client.gd
# (tests/test_integrations.py runs it.) Prints one line per fact: hello, error, start,
# note KIND FRAME, block FRAME FRAMES, plan, param, done; writes the frames it would push into
# an AudioStreamGenerator (Vector2 left/right) to SOUNDTRACK_OUT as float32 little-endian.
extends SceneTree

const Client = preload("res://addons/soundtrack/soundtrack_client.gd")
const MsgPack = preload("res://addons/soundtrack/msgpack.gd")
const BLOCK = 1024

var client


func _init() -> void:
	var code := _run()
	quit(code)


func _on_note(kind, payload) -> void:
	print("note %s %d" % [kind, payload.frame])


func _fail(what: String, r: Dictionary) -> int:
	printerr("FAIL %s: %s" % [what, r.error])
	return 1


func _run() -> int:
	var addr := OS.get_environment("SOUNDTRACK_TCP").rsplit(":", true, 1)
	client = Client.new()
	if client.connect_to(addr[0], int(addr[1])) != OK:
		printerr("FAIL cannot connect to %s" % OS.get_environment("SOUNDTRACK_TCP"))
		return 1
	var r: Dictionary = client.hello("controller")
	if r.error != null:
		return _fail("hello", r)
	var h: Dictionary = r.result
	print("hello protocol=%d role=%s sample_rate=%d channels=%d graph=%s" % [h.protocol, h.role, h.sample_rate, h.channels, h.graph])
	r = client.call_sync("no_such_method")
	print("error code=%d name=%s" % [r.error.code, "METHOD_NOT_FOUND" if r.error.code == Client.METHOD_NOT_FOUND else "?"])

	client.connect("notification_received", self, "_on_note")
	client.subscribe(["beat", "bar", "transition", "state"])
	r = client.load_session(int(OS.get_environment("SOUNDTRACK_SEED")))
	if r.error != null:
		return _fail("load", r)
	r = client.start()
	if r.error != null:
		return _fail("start", r)
	print("start frame=%d state=%s" % [r.result.frame, r.result.state])

	var f := File.new()
	if f.open(OS.get_environment("SOUNDTRACK_OUT"), File.WRITE) != OK:
		printerr("FAIL cannot write SOUNDTRACK_OUT")
		return 1
	var frame := 0
	var pre := int(OS.get_environment("SOUNDTRACK_PRE_BLOCKS"))
	var edit_frame := -1
	var k := 0
	while edit_frame < 0 or frame < edit_frame + 4 * BLOCK:
		if k == pre:
			r = client.post_event(OS.get_environment("SOUNDTRACK_EVENT"))
			if r.error != null:
				return _fail("event", r)
			var p: Dictionary = r.result
			print("plan accepted=%s posted_frame=%d edit_frame=%d from=%s to=%s position=%s" % [
				"true" if p.accepted else "false", p.posted_frame, p.edit_frame, p.from, p.to, p.position])
			edit_frame = p.edit_frame
		r = client.render(BLOCK)
		if r.error != null:
			return _fail("render", r)
		var b: Dictionary = r.result
		print("block %d %d" % [b.frame, b.frames])
		var frames: PoolVector2Array = MsgPack.pcm_to_frames(b.pcm, b.channels)
		if frames.size() != b.frames:
			printerr("FAIL %d frames decoded from a block of %d" % [frames.size(), b.frames])
			return 1
		for v in frames:
			f.store_float(v.x)
			f.store_float(v.y)
		frame += b.frames
		k += 1
	f.close()
	r = client.set_param("intensity", 0.9)
	if r.error != null:
		return _fail("set_param", r)
	print("param frame=%d end_frame=%d" % [r.result.frame, r.result.end_frame])
	print("done frames=%d" % frame)
	client.close()
	return 0
