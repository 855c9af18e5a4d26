# Round trips through the Godot 3 client (integrations/bench_latency.py runs it):
#   SOUNDTRACK_TCP=HOST:PORT SOUNDTRACK_N=1000 godot3-server --no-window --path . -s test_latency.gd
extends SceneTree

const Client = preload("res://addons/soundtrack/soundtrack_client.gd")

var client


func _init() -> void:
	var addr := OS.get_environment("SOUNDTRACK_TCP").rsplit(":", true, 1)
	client = Client.new()
	client.connect_to(addr[0], int(addr[1]))
	client.hello("controller")
	client.load_session(1)
	client.start()
	var n := int(OS.get_environment("SOUNDTRACK_N"))
	var r := _measure(n, "render", [1024, "f32"])
	var p := _measure(n, "ping", [1])
	print("latency render_p50_us=%d render_p99_us=%d ping_p50_us=%d ping_p99_us=%d" % [r[0], r[1], p[0], p[1]])
	client.close()
	quit(0)


func _measure(n: int, method: String, params: Array) -> Array:
	for _k in range(50):
		client.call_sync(method, params)
	var t := []
	for _k in range(n):
		var t0 := OS.get_ticks_usec()
		client.call_sync(method, params)
		t.append(OS.get_ticks_usec() - t0)
	t.sort()
	return [t[int(n * 0.5)], t[int(n * 0.99)]]
