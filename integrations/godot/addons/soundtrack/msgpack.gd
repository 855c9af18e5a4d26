# MessagePack for the soundtrack client (Godot 4). MIT licence.
# Decoded types: null, bool, int (every integer), float (float32 and float64), String,
# PackedByteArray (bin), Array, Dictionary. Encoded: the same, plus PackedStringArray as an array.
#   var MsgPack = preload("msgpack.gd")
#   var bytes = MsgPack.encode([0, 1, "ping", ["hi"]])
#   var r = MsgPack.decode(bytes, 0)  # {ok, value, pos}; ok false + incomplete true: need more bytes
extends RefCounted


static func encode(value) -> PackedByteArray:
	var s := StreamPeerBuffer.new()
	s.big_endian = true
	_write(s, value)
	return s.data_array


static func _header(s: StreamPeerBuffer, n: int, fix: int, fix_limit: int, t8: int, t16: int, t32: int) -> void:
	if n < fix_limit:
		s.put_u8(fix + n)
	elif t8 != 0 and n < 256:
		s.put_u8(t8)
		s.put_u8(n)
	elif n < 65536:
		s.put_u8(t16)
		s.put_u16(n)
	else:
		s.put_u8(t32)
		s.put_u32(n)


static func _write(s: StreamPeerBuffer, v) -> void:
	match typeof(v):
		TYPE_NIL:
			s.put_u8(0xc0)
		TYPE_BOOL:
			s.put_u8(0xc3 if v else 0xc2)
		TYPE_INT:
			if v >= 0:
				if v < 128:
					s.put_u8(v)
				elif v < 256:
					s.put_u8(0xcc)
					s.put_u8(v)
				elif v < 65536:
					s.put_u8(0xcd)
					s.put_u16(v)
				elif v < 4294967296:
					s.put_u8(0xce)
					s.put_u32(v)
				else:
					s.put_u8(0xcf)
					s.put_64(v)
			elif v >= -32:
				s.put_8(v)
			elif v >= -128:
				s.put_u8(0xd0)
				s.put_8(v)
			elif v >= -32768:
				s.put_u8(0xd1)
				s.put_16(v)
			elif v >= -2147483648:
				s.put_u8(0xd2)
				s.put_32(v)
			else:
				s.put_u8(0xd3)
				s.put_64(v)
		TYPE_FLOAT:
			s.put_u8(0xcb)
			s.put_double(v)
		TYPE_STRING, TYPE_STRING_NAME:
			var b: PackedByteArray = String(v).to_utf8_buffer()
			_header(s, b.size(), 0xa0, 32, 0xd9, 0xda, 0xdb)
			s.put_data(b)
		TYPE_PACKED_BYTE_ARRAY:
			_header(s, v.size(), 0, 0, 0xc4, 0xc5, 0xc6)
			s.put_data(v)
		TYPE_ARRAY, TYPE_PACKED_STRING_ARRAY, TYPE_PACKED_INT32_ARRAY, TYPE_PACKED_INT64_ARRAY, TYPE_PACKED_FLOAT32_ARRAY, TYPE_PACKED_FLOAT64_ARRAY:
			_header(s, v.size(), 0x90, 16, 0, 0xdc, 0xdd)
			for x in v:
				_write(s, x)
		TYPE_DICTIONARY:
			_header(s, v.size(), 0x80, 16, 0, 0xde, 0xdf)
			for k in v:
				_write(s, k)
				_write(s, v[k])
		_:
			push_error("msgpack: cannot encode a value of type %d" % typeof(v))
			s.put_u8(0xc0)


# Decode one value from `bytes` at `pos`. Returns {ok, value, pos, incomplete, error}.
static func decode(bytes: PackedByteArray, pos: int = 0) -> Dictionary:
	var s := StreamPeerBuffer.new()
	s.data_array = bytes
	s.big_endian = true
	s.seek(pos)
	return decode_from(s)


# Decode one value at the position of `s` (a big-endian StreamPeerBuffer over the bytes, made
# once for many messages): the position moves past it, or stays when it is incomplete.
static func decode_from(s: StreamPeerBuffer) -> Dictionary:
	var pos := s.get_position()
	var st := {"incomplete": false, "error": ""}
	var value = _read(s, st, 0)
	if st.incomplete or st.error != "":
		s.seek(pos)
		return {"ok": false, "value": null, "pos": pos, "incomplete": st.incomplete, "error": st.error}
	return {"ok": true, "value": value, "pos": s.get_position(), "incomplete": false, "error": ""}


static func _has(s: StreamPeerBuffer, st: Dictionary, n: int) -> bool:
	if s.get_available_bytes() < n:
		st.incomplete = true
		return false
	return true


static func _len(s: StreamPeerBuffer, st: Dictionary, n: int) -> int:
	if not _has(s, st, n):
		return 0
	if n == 1:
		return s.get_u8()
	if n == 2:
		return s.get_u16()
	return s.get_u32()


static func _raw(s: StreamPeerBuffer, st: Dictionary, n: int) -> PackedByteArray:
	if st.incomplete or not _has(s, st, n):
		return PackedByteArray()
	if n == 0:
		return PackedByteArray()
	return s.get_data(n)[1]


static func _array(s: StreamPeerBuffer, st: Dictionary, n: int, depth: int) -> Array:
	var a := []
	for _i in range(n):
		if st.incomplete or st.error != "":
			break
		a.append(_read(s, st, depth + 1))
	return a


static func _map(s: StreamPeerBuffer, st: Dictionary, n: int, depth: int) -> Dictionary:
	var d := {}
	for _i in range(n):
		if st.incomplete or st.error != "":
			break
		var k = _read(s, st, depth + 1)
		d[k] = _read(s, st, depth + 1)
	return d


static func _read(s: StreamPeerBuffer, st: Dictionary, depth: int):
	if depth > 64:
		st.error = "msgpack: nested deeper than 64"
		return null
	if not _has(s, st, 1):
		return null
	var t: int = s.get_u8()
	if t < 0x80:
		return t
	if t >= 0xe0:
		return t - 256
	if t < 0x90:
		return _map(s, st, t & 0x0f, depth)
	if t < 0xa0:
		return _array(s, st, t & 0x0f, depth)
	if t < 0xc0:
		return _raw(s, st, t & 0x1f).get_string_from_utf8()
	match t:
		0xc0:
			return null
		0xc2:
			return false
		0xc3:
			return true
		0xc4, 0xc5, 0xc6:
			return _raw(s, st, _len(s, st, [1, 2, 4][t - 0xc4]))
		0xca:
			return s.get_float() if _has(s, st, 4) else null
		0xcb:
			return s.get_double() if _has(s, st, 8) else null
		0xcc:
			return s.get_u8() if _has(s, st, 1) else null
		0xcd:
			return s.get_u16() if _has(s, st, 2) else null
		0xce:
			return s.get_u32() if _has(s, st, 4) else null
		0xcf:
			return s.get_u64() if _has(s, st, 8) else null  # wraps above 2^63 (int is 64-bit signed)
		0xd0:
			return s.get_8() if _has(s, st, 1) else null
		0xd1:
			return s.get_16() if _has(s, st, 2) else null
		0xd2:
			return s.get_32() if _has(s, st, 4) else null
		0xd3:
			return s.get_64() if _has(s, st, 8) else null
		0xd9, 0xda, 0xdb:
			return _raw(s, st, _len(s, st, [1, 2, 4][t - 0xd9])).get_string_from_utf8()
		0xdc:
			return _array(s, st, _len(s, st, 2), depth)
		0xdd:
			return _array(s, st, _len(s, st, 4), depth)
		0xde:
			return _map(s, st, _len(s, st, 2), depth)
		0xdf:
			return _map(s, st, _len(s, st, 4), depth)
		0xd4, 0xd5, 0xd6, 0xd7, 0xd8:  # fixext: skipped, the protocol sends none
			_raw(s, st, 1 + [1, 2, 4, 8, 16][t - 0xd4])
			return null
		0xc7, 0xc8, 0xc9:
			_raw(s, st, 1 + _len(s, st, [1, 2, 4][t - 0xc7]))
			return null
	st.error = "msgpack: byte 0xc1 is not a msgpack type"
	return null


# Interleaved little-endian float32 samples (a `render` result's `pcm`) as frames for
# AudioStreamGeneratorPlayback.push_buffer(). Stereo is converted by the engine, not sample by
# sample in GDScript: the bytes already have PackedVector2Array's serialized layout once a type
# and count header is put in front, so bytes_to_var() builds the array in C++ (builds with
# 64-bit Vector2, precision=double, take the loop below). Mono is copied to both sides; channels
# above 2 are dropped.
static func pcm_to_frames(pcm: PackedByteArray, channels: int) -> PackedVector2Array:
	if channels == 2 and var_to_bytes(Vector2()).size() == 12:
		var bytes := PackedByteArray()
		bytes.resize(8)
		bytes.encode_u32(0, TYPE_PACKED_VECTOR2_ARRAY)
		bytes.encode_u32(4, pcm.size() / 8)
		bytes.append_array(pcm)
		return bytes_to_var(bytes)
	var samples := pcm.to_float32_array()  # little-endian: every platform Godot 4 runs on is
	var n := samples.size() / channels
	var out := PackedVector2Array()
	out.resize(n)
	for i in range(n):
		var l := samples[i * channels]
		out[i] = Vector2(l, samples[i * channels + 1] if channels > 1 else l)
	return out
