-- A Lua client for `soundtrack serve` (MessagePack-RPC over TCP; see docs/protocol.md).
-- Needs LuaSocket (bundled with LÖVE; Debian: lua-socket). Lua 5.1-5.4 and LuaJIT.
--
--   local Soundtrack = require("soundtrack")
--   local c = assert(Soundtrack.connect("127.0.0.1", 7700))
--   c:hello{ role = "controller" }; c:load(); c:start()
--   c:on("transition", function(p) print("transition at frame", p.frame) end)
--   c:subscribe{ "beat", "bar", "transition", "state" }
--   local plan = c:event("enemy_spotted")          -- plan.edit_frame, plan.position, ...
--   local block = c:render(1024)                   -- block.pcm: bytes; block.frame, block.frames
--
-- Calls block until their response arrives (a loopback round trip is ~0.1 ms); notifications
-- that arrive meanwhile are handed to the callbacks registered with :on(kind, fn), in order,
-- before the response that follows them is returned.

local socket = require("socket")
local msgpack = require("soundtrack.msgpack")

local M = { msgpack = msgpack }

M.ErrorCode = {
  PARSE_ERROR = -32700, MESSAGE_TOO_LARGE = -32701, INVALID_REQUEST = -32600,
  METHOD_NOT_FOUND = -32601, INVALID_PARAMS = -32602, INTERNAL_ERROR = -32603,
  OUT_OF_RANGE = 1, NOT_LOADED = 2, NOT_CONTROLLER = 3, UNAUTHORIZED = 4,
  REJECTED = 5, WRONG_MODE = 6, BUSY = 7,
}
local CODE_NAMES = {}
for k, v in pairs(M.ErrorCode) do CODE_NAMES[v] = k end

-- An error response: raised by the call methods (use pcall); fields method, code, name, message.
local RemoteError = {}
RemoteError.__index = RemoteError
RemoteError.__tostring = function(e)
  return string.format("%s: %s (%s): %s", e.method, e.name, tostring(e.code), e.message)
end
M.RemoteError = RemoteError

local Client = {}
Client.__index = Client
M.Client = Client

--- Connect over TCP. Returns a client, or nil and a message. `timeout`: seconds a call may wait.
function M.connect(host, port, timeout)
  local sock, err = socket.tcp()
  if not sock then return nil, err end
  sock:settimeout(timeout or 10)
  local ok, cerr = sock:connect(host or "127.0.0.1", port or 7700)
  if not ok then return nil, string.format("soundtrack: cannot connect to %s:%s: %s", host, port, cerr) end
  sock:setoption("tcp-nodelay", true)
  sock:settimeout(0)
  return setmetatable({
    sock = sock, timeout = timeout or 10, buf = "", pos = 1, next_id = 0,
    handlers = {}, closed = false,
  }, Client)
end

--- Register fn(payload, kind) for notifications of `kind` ("beat", "bar", "transition",
-- "state", "segment", "stinger", "error") or "*" for every kind.
function Client:on(kind, fn)
  local list = self.handlers[kind] or {}
  list[#list + 1] = fn
  self.handlers[kind] = list
  return self
end

function Client:_notify(kind, payload)
  for _, key in ipairs({ kind, "*" }) do
    for _, fn in ipairs(self.handlers[key] or {}) do fn(payload, kind) end
  end
end

-- Read what the socket holds, waiting up to `wait` seconds for the first byte.
function Client:_fill(wait)
  local ready = socket.select({ self.sock }, nil, wait)
  if #ready == 0 then return false end
  local data, err, partial = self.sock:receive(65536)
  local chunk = data or partial
  if chunk and #chunk > 0 then
    -- drop what was consumed before appending, so the buffer holds one message at most
    self.buf = self.buf:sub(self.pos) .. chunk
    self.pos = 1
    return true
  end
  if err == "closed" then
    self.closed = true
    error("soundtrack: the server closed the connection", 0)
  end
  return false
end

-- The next whole message in the buffer, or nil.
function Client:_next_message()
  if self.pos > #self.buf then return nil end
  local ok, value, next_pos = pcall(msgpack.decode, self.buf, self.pos)
  if ok then
    self.pos = next_pos
    return value
  end
  if value == msgpack.INCOMPLETE then return nil end
  error(value, 0)
end

--- Send a request and wait for its response; returns the result or raises a RemoteError.
function Client:call(method, params)
  if self.closed then error("soundtrack: connection closed", 2) end
  self.next_id = (self.next_id + 1) % 4294967296
  local id = self.next_id
  local bytes = msgpack.encode({ 0, id, method, msgpack.array(params or {}) })
  local sent = 0
  while sent < #bytes do
    local n, err, partial = self.sock:send(bytes, sent + 1)
    sent = n or partial or sent
    if err == "closed" then self.closed = true; error("soundtrack: the server closed the connection", 2) end
    if not n then socket.select(nil, { self.sock }, self.timeout) end
  end
  local deadline = socket.gettime() + self.timeout
  while true do
    local msg = self:_next_message()
    if msg == nil then
      local left = deadline - socket.gettime()
      if left <= 0 then error(string.format("soundtrack: %s: no response within %g s", method, self.timeout), 2) end
      self:_fill(left)
    elseif msg[1] == 2 then
      local params_ = msg[3]
      self:_notify(msg[2], type(params_) == "table" and params_[1] or params_)
    elseif msg[1] == 1 and msg[2] == id then
      local e = msg[3]
      if e ~= nil then
        local code = type(e) == "table" and e.code or nil
        error(setmetatable({
          method = method, code = code, name = CODE_NAMES[code] or "ERROR",
          message = type(e) == "table" and tostring(e.message) or tostring(e),
        }, RemoteError), 2)
      end
      return msg[4]
    end
  end
end

--- Read and dispatch notifications that have arrived, waiting at most `wait` seconds (default 0).
function Client:poll(wait)
  local got = self:_fill(wait or 0)
  while true do
    local msg = self:_next_message()
    if msg == nil then break end
    if msg[1] == 2 then self:_notify(msg[2], type(msg[3]) == "table" and msg[3][1] or msg[3]) end
  end
  return got
end

-- Named parameters go as one map; nil values are left out.
local function named(t)
  local m = msgpack.map({})
  local any = false
  for k, v in pairs(t) do m[k] = v; any = true end
  if any then return { m } end
  return {}
end

function Client:hello(opts)
  opts = opts or {}
  return self:call("hello", named({ role = opts.role or "controller", version = 1,
    client = opts.client or "soundtrack-lua", token = opts.token }))
end

function Client:load(opts)
  opts = opts or {}
  return self:call("load", named({ path = opts.path, seed = opts.seed }))
end

function Client:start(state) return self:call("start", { state }) end

--- Post a game event; returns the plan (edit_frame, position, from, to, ...).
function Client:event(name, at_frame) return self:call("event", named({ event = name, at_frame = at_frame })) end

function Client:set_param(name, value, ramp) return self:call("set_param", named({ name = name, value = value, ramp = ramp })) end

--- The next `frames` frames: { frame, frames, channels, format, pcm = bytes, markers }.
-- `format` "f32" (default) or "s16"; msgpack.f32_samples(block.pcm) gives numbers.
function Client:render(frames, format) return self:call("render", { frames, format or "f32" }) end

function Client:subscribe(kinds) return self:call("subscribe", kinds and { msgpack.array(kinds) } or {}) end
function Client:unsubscribe(kinds) return self:call("unsubscribe", kinds and { msgpack.array(kinds) } or {}) end
function Client:status() return self:call("status", {}) end
function Client:stop(fade) return self:call("stop", named({ fade = fade })) end
function Client:shutdown() return self:call("shutdown", {}) end
function Client:ping(payload) return self:call("ping", { payload }) end

function Client:close()
  if not self.closed then self.sock:close() end
  self.closed = true
end

return M
