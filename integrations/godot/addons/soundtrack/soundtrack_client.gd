# A client for `soundtrack serve` over TCP (Godot 4; docs/protocol.md is the reference).
# Call poll() often (the Soundtrack node does it in _process): it reads the socket, emits
# notification_received(kind, payload) for each notification in order, and files responses.
# call_sync() sends a request and polls until its response (a loopback round trip is well
# under a millisecond); send_request() + take_response() do the same without waiting.
extends RefCounted

signal notification_received(kind: String, payload: Dictionary)
signal closed()

const MsgPack = preload("msgpack.gd")

const PARSE_ERROR = -32700
const METHOD_NOT_FOUND = -32601
const INVALID_PARAMS = -32602
const OUT_OF_RANGE = 1
const NOT_LOADED = 2
const NOT_CONTROLLER = 3
const REJECTED = 5

var timeout_ms := 10000
var _tcp := StreamPeerTCP.new()
var _buf := PackedByteArray()
var _next_id := 0
var _responses := {}
var _closed := false


# Connect and wait until connected. Returns OK or an error code.
func connect_to(host: String = "127.0.0.1", port: int = 7700, wait_ms: int = 5000) -> int:
	var err := _tcp.connect_to_host(host, port)
	if err != OK:
		return err
	var deadline := Time.get_ticks_msec() + wait_ms
	_tcp.poll()
	while _tcp.get_status() == StreamPeerTCP.STATUS_CONNECTING and Time.get_ticks_msec() < deadline:
		OS.delay_msec(1)
		_tcp.poll()
	if _tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		return ERR_CANT_CONNECT
	_tcp.set_no_delay(true)
	return OK


func is_connected_to_server() -> bool:
	return not _closed and _tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED


# Send a request; returns its msgid (responses are collected by poll()).
func send_request(method: String, params: Array = []) -> int:
	_next_id = (_next_id + 1) % 4294967296
	_tcp.put_data(MsgPack.encode([0, _next_id, method, params]))
	return _next_id


# Read what has arrived; emit notifications; file responses. Returns false once closed.
func poll() -> bool:
	if _closed:
		return false
	_tcp.poll()
	if _tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		_closed = true
		closed.emit()
		return false
	var n := _tcp.get_available_bytes()
	if n > 0:
		var got: Array = _tcp.get_partial_data(n)
		if got[0] == OK:
			_buf.append_array(got[1])
	var pos := 0
	while pos < _buf.size():
		var r := MsgPack.decode(_buf, pos)
		if not r.ok:
			if r.error != "":
				push_error("soundtrack: " + r.error)
				_tcp.disconnect_from_host()
				_closed = true
				closed.emit()
			break
		pos = r.pos
		_dispatch(r.value)
	if pos > 0:
		_buf = _buf.slice(pos)
	return true


func _dispatch(msg) -> void:
	if typeof(msg) != TYPE_ARRAY or msg.size() < 3:
		return
	if msg[0] == 2:
		var params = msg[2]
		var payload = params[0] if typeof(params) == TYPE_ARRAY and params.size() == 1 else params
		notification_received.emit(msg[1], payload)
	elif msg[0] == 1 and msg.size() == 4:
		_responses[msg[1]] = {"error": msg[2], "result": msg[3]}


# The response to `id` once it has arrived ({error, result}), else null.
func take_response(id: int):
	if not _responses.has(id):
		return null
	var r = _responses[id]
	_responses.erase(id)
	return r


# Send and wait: {error, result}. `error` is null or {code, message}.
func call_sync(method: String, params: Array = []) -> Dictionary:
	var id := send_request(method, params)
	var deadline := Time.get_ticks_msec() + timeout_ms
	while true:
		if not poll():
			return {"error": {"code": -1, "message": "the server closed the connection"}, "result": null}
		var r = take_response(id)
		if r != null:
			if r.error != null:
				push_warning("soundtrack: %s: %s" % [method, r.error])
			return r
		if Time.get_ticks_msec() > deadline:
			return {"error": {"code": -2, "message": "%s: no response within %d ms" % [method, timeout_ms]}, "result": null}
		OS.delay_usec(100)
	return {}


func hello(role: String = "controller", token: String = "") -> Dictionary:
	var named := {"role": role, "version": 1, "client": "soundtrack-godot"}
	if token != "":
		named["token"] = token
	return call_sync("hello", [named])


func load_session(session_seed: int = -1, path: String = "") -> Dictionary:
	var named := {}
	if session_seed >= 0:
		named["seed"] = session_seed
	if path != "":
		named["path"] = path
	return call_sync("load", [named] if named.size() > 0 else [])


func start(state: String = "") -> Dictionary:
	return call_sync("start", [state] if state != "" else [])


# Post a game event; result is the plan (edit_frame, position, from, to, ...).
func post_event(event: String) -> Dictionary:
	return call_sync("event", [event])


func set_param(name: String, value: float) -> Dictionary:
	return call_sync("set_param", [name, value])


func subscribe(kinds: Array = []) -> Dictionary:
	return call_sync("subscribe", [kinds] if kinds.size() > 0 else [])


# The next `frames` frames; result.pcm is a PackedByteArray of float32 little-endian samples,
# MsgPack.pcm_to_frames(result.pcm, result.channels) turns it into push_buffer() frames.
func render(frames: int) -> Dictionary:
	return call_sync("render", [frames, "f32"])


func status() -> Dictionary:
	return call_sync("status")


func close() -> void:
	_tcp.disconnect_from_host()
	_closed = true
