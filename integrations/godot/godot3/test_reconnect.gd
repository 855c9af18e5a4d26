# The Godot 3 client after the server is killed and started again (tests/test_integrations.py):
#   SOUNDTRACK_TCP=HOST:PORT SOUNDTRACK_SEED=11 SOUNDTRACK_OUT=re.f32 godot3-server --no-window --path . -s test_reconnect.gd
# Pulls 8 blocks, prints "ready", pulls until the connection drops ("lost MESSAGE"), dials again
# every 50 ms ("reconnected tries=N"), starts a new session and writes its first 8 blocks.
extends SceneTree

const Client = preload("res://addons/soundtrack/soundtrack_client.gd")
const MsgPack = preload("res://addons/soundtrack/msgpack.gd")
const BLOCK = 1024

var client


func _init() -> void:
	quit(_run())


func _begin() -> bool:
	var seed_ := int(OS.get_environment("SOUNDTRACK_SEED"))
	return client.hello("controller").error == null and client.load_session(seed_).error == null and client.start().error == null


func _run() -> int:
	var addr := OS.get_environment("SOUNDTRACK_TCP").rsplit(":", true, 1)
	client = Client.new()
	client.timeout_ms = 5000
	if client.connect_to(addr[0], int(addr[1])) != OK or not _begin():
		printerr("FAIL cannot start")
		return 1
	for _k in range(8):
		client.render(BLOCK)
	print("ready")
	var deadline := OS.get_ticks_msec() + 30000
	while true:
		var r: Dictionary = client.render(BLOCK)
		if r.error != null:
			print("lost %s" % r.error.message)
			break
		OS.delay_msec(10)
		if OS.get_ticks_msec() > deadline:
			print("never lost")
			return 1
	var tries := 0
	while true:
		tries += 1
		if client.reconnect(500) == OK and _begin():
			break
		if OS.get_ticks_msec() > deadline:
			print("never reconnected")
			return 1
		OS.delay_msec(50)
	print("reconnected tries=%d" % tries)
	var f := File.new()
	f.open(OS.get_environment("SOUNDTRACK_OUT"), File.WRITE)
	for _k in range(8):
		var b: Dictionary = client.render(BLOCK).result
		print("block %d %d" % [b.frame, b.frames])
		for v in MsgPack.pcm_to_frames(b.pcm, b.channels):
			f.store_float(v.x)
			f.store_float(v.y)
	f.close()
	print("done")
	client.close()
	return 0
