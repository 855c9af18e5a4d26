-- A compact MessagePack encoder/decoder in pure Lua, for the soundtrack client.
-- Runs on Lua 5.1-5.4 and LuaJIT (LÖVE): string.pack is used where it exists, plain
-- arithmetic elsewhere. MIT licence, written for this project.
--
-- Types: nil, boolean, integer, float (float32 and float64 decode; numbers with a fraction
-- encode as float64), string (str; `bin` decodes to a Lua string too), array, map.
-- A table encodes as an array when its keys are exactly 1..n (an empty table is an empty
-- array); wrap it with msgpack.map(t) or msgpack.array(t) to say which.
--
--   local mp = require("soundtrack.msgpack")
--   local bytes = mp.encode({0, 1, "ping", {"hi"}})
--   local value, next_pos = mp.decode(bytes, 1)     -- errors with mp.INCOMPLETE if cut short

local M = {}

local byte, char, sub, concat = string.byte, string.char, string.sub, table.concat
local floor, huge = math.floor, math.huge
local has_pack = string.pack ~= nil
local mtype = math.type or function(x)
  if type(x) ~= "number" then return nil end
  if x == floor(x) and x > -2^53 and x < 2^53 then return "integer" end
  return "float"
end

-- Raised (as the error value) when the bytes end inside a message: read more and retry.
M.INCOMPLETE = setmetatable({}, { __tostring = function() return "msgpack: incomplete message" end })

local ARRAY, MAP = { "array" }, { "map" }
function M.array(t) return setmetatable(t or {}, ARRAY) end
function M.map(t) return setmetatable(t or {}, MAP) end
M.null = setmetatable({}, { __tostring = function() return "msgpack.null" end })

-- Big-endian unsigned integer of n bytes (n <= 8; exact up to 2^53 on LuaJIT).
local function be_uint(n, v)
  local out = {}
  for i = n, 1, -1 do
    out[i] = char(v % 256)
    v = floor(v / 256)
  end
  return concat(out)
end

local function encode_int(v)
  if v >= 0 then
    if v < 128 then return char(v) end
    if v < 256 then return "\204" .. char(v) end
    if v < 65536 then return "\205" .. be_uint(2, v) end
    if v < 4294967296 then return "\206" .. be_uint(4, v) end
    if has_pack then return "\207" .. string.pack(">I8", v) end
    return "\207" .. be_uint(8, v)
  end
  if v >= -32 then return char(256 + v) end
  if v >= -128 then return "\208" .. char(256 + v) end
  if v >= -32768 then return "\209" .. be_uint(2, 65536 + v) end
  if v >= -2147483648 then return "\210" .. be_uint(4, 4294967296 + v) end
  if has_pack then return "\211" .. string.pack(">i8", v) end
  return "\211" .. be_uint(8, 2^64 + v)
end

local function encode_double(v)
  if has_pack then return "\203" .. string.pack(">d", v) end
  -- IEEE 754 by hand (LuaJIT has no string.pack).
  local sign = 0
  if v < 0 or (v == 0 and 1 / v < 0) then sign = 1; v = -v end
  local e, m
  if v ~= v then e, m = 2047, 2^51
  elseif v == huge then e, m = 2047, 0
  elseif v == 0 then e, m = 0, 0
  else
    m, e = math.frexp(v)            -- v = m * 2^e, 0.5 <= m < 1
    e = e + 1022
    if e <= 0 then m = m * 2^(52 + e); e = 0
    else m = (m * 2 - 1) * 2^52 end
  end
  local hi = sign * 2^31 + e * 2^20 + floor(m / 2^32)
  return "\203" .. be_uint(4, hi) .. be_uint(4, m % 2^32)
end

local function encode_str(v, small_tag, tag8, tag16, tag32)
  local n = #v
  if small_tag and n < 32 then return char(small_tag + n) .. v end
  if tag8 and n < 256 then return char(tag8, n) .. v end
  if n < 65536 then return char(tag16) .. be_uint(2, n) .. v end
  return char(tag32) .. be_uint(4, n) .. v
end

local encode_value

local function is_array(t)
  local mt = getmetatable(t)
  if mt == ARRAY then return true end
  if mt == MAP then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

local function encode_table(t, out)
  if is_array(t) then
    local n = #t
    if n < 16 then out[#out + 1] = char(0x90 + n)
    elseif n < 65536 then out[#out + 1] = "\220" .. be_uint(2, n)
    else out[#out + 1] = "\221" .. be_uint(4, n) end
    for i = 1, n do encode_value(t[i], out) end
  else
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    if n < 16 then out[#out + 1] = char(0x80 + n)
    elseif n < 65536 then out[#out + 1] = "\222" .. be_uint(2, n)
    else out[#out + 1] = "\223" .. be_uint(4, n) end
    for k, v in pairs(t) do encode_value(k, out); encode_value(v, out) end
  end
end

encode_value = function(v, out)
  local tv = type(v)
  if v == nil or v == M.null then out[#out + 1] = "\192"
  elseif tv == "boolean" then out[#out + 1] = v and "\195" or "\194"
  elseif tv == "number" then
    if mtype(v) == "integer" then out[#out + 1] = encode_int(v) else out[#out + 1] = encode_double(v) end
  elseif tv == "string" then out[#out + 1] = encode_str(v, 0xa0, 0xd9, 0xda, 0xdb)
  elseif tv == "table" then encode_table(v, out)
  else error("msgpack: cannot encode a " .. tv, 3) end
end

--- Encode one value to a binary string.
function M.encode(v)
  local out = {}
  encode_value(v, out)
  return concat(out)
end

-- Decoding ------------------------------------------------------------------------------------

local function need(s, pos, n)
  if pos + n - 1 > #s then error(M.INCOMPLETE, 0) end
end

local function uint(s, pos, n)
  need(s, pos, n)
  local v = 0
  for i = pos, pos + n - 1 do v = v * 256 + byte(s, i) end
  return v
end

local function sint(s, pos, n)
  local v = uint(s, pos, n)
  if v >= 2^(8 * n - 1) then v = v - 2^(8 * n) end
  return v
end

local function float32(s, pos)
  need(s, pos, 4)
  if has_pack then return (string.unpack(">f", s, pos)) end
  local b1, b2, b3, b4 = byte(s, pos, pos + 3)
  local sign = b1 >= 128 and -1 or 1
  local e = (b1 % 128) * 2 + floor(b2 / 128)
  local m = ((b2 % 128) * 256 + b3) * 256 + b4
  if e == 255 then return m == 0 and sign * huge or 0 / 0 end
  if e == 0 then return sign * m * 2^-149 end
  return sign * (1 + m / 2^23) * 2^(e - 127)
end

local function float64(s, pos)
  need(s, pos, 8)
  if has_pack then return (string.unpack(">d", s, pos)) end
  local hi, lo = uint(s, pos, 4), uint(s, pos + 4, 4)
  local sign = hi >= 2^31 and -1 or 1
  hi = hi % 2^31
  local e = floor(hi / 2^20)
  local m = (hi % 2^20) * 2^32 + lo
  if e == 2047 then return m == 0 and sign * huge or 0 / 0 end
  if e == 0 then return sign * m * 2^-1074 end
  return sign * (1 + m / 2^52) * 2^(e - 1023)
end

local decode_value

local function decode_array(s, pos, n, depth)
  local t = {}
  for i = 1, n do t[i], pos = decode_value(s, pos, depth) end
  return setmetatable(t, ARRAY), pos
end

local function decode_map(s, pos, n, depth)
  local t, k, v = {}, nil, nil
  for _ = 1, n do
    k, pos = decode_value(s, pos, depth)
    v, pos = decode_value(s, pos, depth)
    if k ~= nil then t[k] = v end
  end
  return setmetatable(t, MAP), pos
end

local function raw(s, pos, n)
  need(s, pos, n)
  return sub(s, pos, pos + n - 1), pos + n
end

decode_value = function(s, pos, depth)
  if depth > 64 then error("msgpack: nested deeper than 64", 0) end
  need(s, pos, 1)
  local b = byte(s, pos)
  pos = pos + 1
  if b < 0x80 then return b, pos end
  if b >= 0xe0 then return b - 256, pos end
  if b < 0x90 then return decode_map(s, pos, b - 0x80, depth + 1) end
  if b < 0xa0 then return decode_array(s, pos, b - 0x90, depth + 1) end
  if b < 0xc0 then return raw(s, pos, b - 0xa0) end
  if b == 0xc0 then return nil, pos end
  if b == 0xc2 then return false, pos end
  if b == 0xc3 then return true, pos end
  if b == 0xc4 or b == 0xd9 then local n = uint(s, pos, 1); return raw(s, pos + 1, n) end
  if b == 0xc5 or b == 0xda then local n = uint(s, pos, 2); return raw(s, pos + 2, n) end
  if b == 0xc6 or b == 0xdb then local n = uint(s, pos, 4); return raw(s, pos + 4, n) end
  if b == 0xca then return float32(s, pos), pos + 4 end
  if b == 0xcb then return float64(s, pos), pos + 8 end
  if b == 0xcc then return uint(s, pos, 1), pos + 1 end
  if b == 0xcd then return uint(s, pos, 2), pos + 2 end
  if b == 0xce then return uint(s, pos, 4), pos + 4 end
  if b == 0xcf then
    if has_pack then need(s, pos, 8); return (string.unpack(">I8", s, pos)), pos + 8 end
    return uint(s, pos, 8), pos + 8
  end
  if b == 0xd0 then return sint(s, pos, 1), pos + 1 end
  if b == 0xd1 then return sint(s, pos, 2), pos + 2 end
  if b == 0xd2 then return sint(s, pos, 4), pos + 4 end
  if b == 0xd3 then
    if has_pack then need(s, pos, 8); return (string.unpack(">i8", s, pos)), pos + 8 end
    return sint(s, pos, 8), pos + 8
  end
  if b == 0xdc then return decode_array(s, pos + 2, uint(s, pos, 2), depth + 1) end
  if b == 0xdd then return decode_array(s, pos + 4, uint(s, pos, 4), depth + 1) end
  if b == 0xde then return decode_map(s, pos + 2, uint(s, pos, 2), depth + 1) end
  if b == 0xdf then return decode_map(s, pos + 4, uint(s, pos, 4), depth + 1) end
  -- fixext / ext: skip the payload, the protocol sends none
  local ext = { [0xd4] = 1, [0xd5] = 2, [0xd6] = 4, [0xd7] = 8, [0xd8] = 16 }
  if ext[b] then local _, p = raw(s, pos + 1, ext[b]); return nil, p end
  if b == 0xc7 then local n = uint(s, pos, 1); local _, p = raw(s, pos + 2, n); return nil, p end
  if b == 0xc8 then local n = uint(s, pos, 2); local _, p = raw(s, pos + 3, n); return nil, p end
  if b == 0xc9 then local n = uint(s, pos, 4); local _, p = raw(s, pos + 5, n); return nil, p end
  error(string.format("msgpack: byte 0x%02x at %d is not a msgpack type", b, pos - 1), 0)
end

--- Decode one value from `s` starting at `pos` (default 1). Returns value, next position.
-- Errors with M.INCOMPLETE (compare with ==) when `s` ends inside the value.
function M.decode(s, pos)
  return decode_value(s, pos or 1, 0)
end

--- Decode little-endian float32 samples (a `render` result's `pcm`) into a table of numbers.
function M.f32_samples(bytes, out)
  out = out or {}
  local n = floor(#bytes / 4)
  if has_pack then
    for i = 1, n do out[i] = (string.unpack("<f", bytes, 4 * i - 3)) end
  else
    for i = 1, n do
      local p = 4 * i - 3
      local b1, b2, b3, b4 = byte(bytes, p, p + 3)
      out[i] = float32(char(b4, b3, b2, b1), 1)
    end
  end
  return out, n
end

return M
