# A client for `soundtrack serve` over TCP (Godot 4; docs/protocol.md is the reference).
# Call poll() often: it reads the socket without waiting, emits notification_received(kind,
# payload) for each notification in order, and files responses. A handler may call the client
# (post an event on a bar): the call gets its answer, and what arrived meanwhile is emitted after
# the handler returns. send_request() + take_response() never wait; call_sync() waits (for tools
# and worker threads: the Soundtrack node keeps the network on its own thread). reconnect()
# dials again after a server restart.
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
var host := "127.0.0.1"
var port := 7700
var _tcp := StreamPeerTCP.new()
var _buf := PackedByteArray()
var _next_id := 0
var _seq := 0
var _inbox := []           # [seq, kind, payload] not yet handed to the callbacks, in order
var _responses := {}       # msgid -> {seq, error, result}
var _dispatching := false
var _closed := false
var last_error := ""


# Start connecting; returns OK or an error code. Without `wait_ms` it does not wait: call
# poll_connect() (or just poll()) until it says CONNECTED.
func connect_to(to_host: String = "127.0.0.1", to_port: int = 7700, wait_ms: int = 5000) -> int:
	host = to_host
	port = to_port
	_reset()
	var err := _tcp.connect_to_host(host, port)
	if err != OK:
		return err
	if wait_ms <= 0:
		return OK
	var deadline := Time.get_ticks_msec() + wait_ms
	while poll_connect() == StreamPeerTCP.STATUS_CONNECTING and Time.get_ticks_msec() < deadline:
		OS.delay_msec(1)
	return OK if poll_connect() == StreamPeerTCP.STATUS_CONNECTED else ERR_CANT_CONNECT


# The connection's status without waiting (STATUS_CONNECTING, _CONNECTED, _ERROR, _NONE).
func poll_connect() -> int:
	_tcp.poll()
	var st := _tcp.get_status()
	if st == StreamPeerTCP.STATUS_CONNECTED:
		_tcp.set_no_delay(true)
	return st


# Dial the same address again after the server went away or restarted. Requests in flight are
# lost; the new server has a new session.
func reconnect(wait_ms: int = 2000) -> int:
	_tcp.disconnect_from_host()
	_tcp = StreamPeerTCP.new()
	return connect_to(host, port, wait_ms)


func _reset() -> void:
	_buf = PackedByteArray()
	_inbox = []
	_responses = {}
	_dispatching = false
	_closed = false


func is_connected_to_server() -> bool:
	return not _closed and _tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED


# Send a request; returns its msgid (take_response() or call_sync() gets the answer), or -1
# when the connection is gone.
func send_request(method: String, params: Array = []) -> int:
	if not is_connected_to_server():
		return -1
	_next_id = (_next_id + 1) % 4294967296
	if _tcp.put_data(MsgPack.encode([0, _next_id, method, params])) != OK:
		_lost("the server closed the connection")
		return -1
	return _next_id


func _lost(why: String) -> void:
	if not _closed:
		_closed = true
		last_error = why
		closed.emit()


# Read what has arrived and file every whole message: responses by msgid, notifications in
# order. Never waits. Returns false once the connection is gone.
func _read() -> bool:
	if _closed:
		return false
	_tcp.poll()
	if _tcp.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		_lost("the server closed the connection")
		return false
	var n := _tcp.get_available_bytes()
	if n > 0:
		var got: Array = _tcp.get_partial_data(n)
		if got[0] == OK:
			_buf.append_array(got[1])
	var pos := 0
	var stream := StreamPeerBuffer.new()  # one view of the buffer for every message in it
	stream.data_array = _buf
	stream.big_endian = true
	while pos < _buf.size():
		var r := MsgPack.decode_from(stream)
		if not r.ok:
			if r.error != "":
				push_error("soundtrack: " + r.error)
				_tcp.disconnect_from_host()
				_lost(r.error)
			break
		pos = r.pos
		_seq += 1
		var msg = r.value
		if typeof(msg) != TYPE_ARRAY or msg.size() < 3:
			continue
		if msg[0] == 2:
			var params = msg[2]
			_inbox.append([_seq, msg[1], params[0] if typeof(params) == TYPE_ARRAY and params.size() == 1 else params])
		elif msg[0] == 1 and msg.size() == 4:
			_responses[msg[1]] = {"seq": _seq, "error": msg[2], "result": msg[3]}
	# consumed bytes go before anything is handed over, so nothing is read twice
	if pos > 0:
		_buf = _buf.slice(pos)
	return not _closed


# Hand queued notifications that arrived before message `before` to notification_received, one
# at a time, each taken off the queue first. Not from inside a handler: a handler that calls the
# client gets its result, and the outer loop hands over what arrived meanwhile, in order.
func _dispatch(before: int) -> void:
	if _dispatching:
		return
	_dispatching = true
	while _inbox.size() > 0 and (before < 0 or _inbox[0][0] < before):
		var note: Array = _inbox.pop_front()
		notification_received.emit(note[1], note[2])
	_dispatching = false


# Read what has arrived; emit notifications; file responses. Returns false once closed.
func poll() -> bool:
	var ok := _read()
	_dispatch(-1)
	return ok


# The response to `id` once it has arrived ({error, result}), else null. Notifications that
# came before it are emitted first.
func take_response(id: int):
	if not _responses.has(id):
		_read()
		if not _responses.has(id):
			return null
	var r: Dictionary = _responses[id]
	_responses.erase(id)
	_dispatch(r.seq)
	return {"error": r.error, "result": r.result}


# Send and wait: {error, result}. `error` is null or {code, message}; code -1: the connection is
# gone, -2: no response within timeout_ms. For tools and worker threads: the Soundtrack node never
# calls it on the main thread.
func call_sync(method: String, params: Array = []) -> Dictionary:
	var id := send_request(method, params)
	if id < 0:
		return {"error": {"code": -1, "message": "%s: %s" % [method, last_error if last_error != "" else "not connected"]}, "result": null}
	var deadline := Time.get_ticks_msec() + timeout_ms
	var spin_until := Time.get_ticks_msec() + 2
	while true:
		var r = take_response(id)
		if r != null:
			if r.error != null:
				push_warning("soundtrack: %s: %s" % [method, r.error])
			return r
		if _closed:
			return {"error": {"code": -1, "message": "%s: %s" % [method, last_error]}, "result": null}
		_dispatch(-1)
		var now := Time.get_ticks_msec()
		if now > deadline:
			return {"error": {"code": -2, "message": "%s: no response within %d ms" % [method, timeout_ms]}, "result": null}
		if now > spin_until:  # a loopback answer takes ~0.1 ms: spin first, then sleep
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


# Any method by name (what the wrappers above use): {error, result}.
func call_method(method: String, params: Array = []) -> Dictionary:
	return call_sync(method, params)


func status() -> Dictionary:
	return call_sync("status")


func close() -> void:
	_tcp.disconnect_from_host()
	_closed = true
	last_error = "closed by the client"
