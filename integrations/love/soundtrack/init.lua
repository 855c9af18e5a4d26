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
-- before the response that follows them is returned. A callback may call the client (post an
-- event on a bar): the call returns at once with its result, and notifications read meanwhile
-- wait, in order, until the callback returns. :send + :result pipeline requests; :reconnect
-- dials again after a server restart. Soundtrack.Stream (stream.lua) plays it through a LÖVE
-- QueueableSource and raises markers when they are heard.

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

local function dial(host, port, timeout)
  local sock, err = socket.tcp()
  if not sock then return nil, err end
  sock:settimeout(timeout)
  local ok, cerr = sock:connect(host, port)
  if not ok then
    sock:close()
    return nil, string.format("soundtrack: cannot connect to %s:%s: %s", host, port, cerr)
  end
  sock:setoption("tcp-nodelay", true)
  sock:settimeout(0)
  return sock
end

--- Connect over TCP. Returns a client, or nil and a message. `timeout`: seconds a call may wait
-- (default 10); connecting waits at most `connect_timeout` seconds (default 2).
function M.connect(host, port, timeout, connect_timeout)
  host, port, timeout = host or "127.0.0.1", port or 7700, timeout or 10
  local sock, err = dial(host, port, connect_timeout or 2)
  if not sock then return nil, err end
  local c = setmetatable({ host = host, port = port, timeout = timeout, handlers = {} }, Client)
  c:_reset(sock)
  return c
end

function Client:_reset(sock)
  self.sock, self.closed = sock, sock == nil
  self.buf, self.pos, self.next_id, self.seq = "", 1, 0, 0
  self.inbox, self.head, self.tail = {}, 1, 0  -- notifications not yet handed to the callbacks
  self.responses = {}                 -- msgid -> { seq, error, result }
  self.dispatching = false
end

--- Dial the same address again after the server went away (or restarted). Returns true, or
-- nil and a message. Requests that were in flight are lost; the new server has a new session.
function Client:reconnect(connect_timeout)
  if self.sock then self.sock:close() end
  local sock, err = dial(self.host, self.port, connect_timeout or 2)
  self:_reset(sock)
  if not sock then return nil, err end
  return true
end

--- Register fn(payload, kind) for notifications of `kind` ("beat", "bar", "transition",
-- "state", "segment", "stinger", "error") or "*" for every kind. A callback may call the client:
-- the call returns its result; notifications it reads wait until the callback has returned.
function Client:on(kind, fn)
  local list = self.handlers[kind] or {}
  list[#list + 1] = fn
  self.handlers[kind] = list
  return self
end

local function closed_error(self)
  self.closed = true
  if self.sock then self.sock:close(); self.sock = nil end
  error("soundtrack: the server closed the connection", 0)
end

-- Read what the socket holds (waiting up to `wait` seconds for the first byte) and file every
-- whole message: responses by msgid, notifications in order. Returns true when bytes came.
function Client:_read(wait)
  if self.closed then error("soundtrack: connection closed", 0) end
  local ready = socket.select({ self.sock }, nil, wait)
  if #ready == 0 then return false end
  local data, err, partial = self.sock:receive(65536)
  local chunk = data or partial
  if not chunk or #chunk == 0 then
    if err == "closed" then closed_error(self) end
    return false
  end
  -- drop what was consumed before appending, so the buffer holds one message at most
  self.buf = self.buf:sub(self.pos) .. chunk
  self.pos = 1
  while self.pos <= #self.buf do
    local ok, msg, next_pos = pcall(msgpack.decode, self.buf, self.pos)
    if not ok then
      if msg == msgpack.INCOMPLETE then break end
      closed_error(self)
    end
    self.pos = next_pos
    self.seq = self.seq + 1
    if type(msg) == "table" and msg[1] == 2 then
      local p = msg[3]
      self.tail = self.tail + 1
      self.inbox[self.tail] = { seq = self.seq, kind = msg[2], payload = type(p) == "table" and p[1] or p }
    elseif type(msg) == "table" and msg[1] == 1 then
      self.responses[msg[2]] = { seq = self.seq, error = msg[3], result = msg[4] }
    end
  end
  if err == "closed" then closed_error(self) end
  return true
end

-- Hand queued notifications that arrived before message `before` (a seq) to the callbacks, one
-- at a time, each taken off the queue first. Not while a callback runs (then the outer loop does).
function Client:_dispatch(before)
  if self.dispatching then return end
  self.dispatching = true
  while self.head <= self.tail and self.inbox[self.head].seq < before do
    local n = self.inbox[self.head]
    self.inbox[self.head] = nil
    self.head = self.head + 1
    for _, key in ipairs({ n.kind, "*" }) do
      for _, fn in ipairs(self.handlers[key] or {}) do
        local ok, err = pcall(fn, n.payload, n.kind)
        if not ok then self.dispatching = false; error(err, 0) end
      end
    end
  end
  if self.head > self.tail then self.inbox, self.head, self.tail = {}, 1, 0 end
  self.dispatching = false
end

--- Send a request without waiting; returns its msgid (see :result). Keep a few `render`
-- requests in flight to overlap the round trip with the server's work.
function Client:send(method, params)
  if self.closed then error("soundtrack: " .. method .. ": connection closed", 2) end
  self.next_id = (self.next_id + 1) % 4294967296
  local id = self.next_id
  local bytes = msgpack.encode({ 0, id, method, msgpack.array(params or {}) })
  local sent = 0
  while sent < #bytes do
    local n, err, partial = self.sock:send(bytes, sent + 1)
    sent = n or partial or sent
    if err == "closed" then closed_error(self) end
    if not n then socket.select(nil, { self.sock }, self.timeout) end
  end
  return id
end

--- Wait for the response to `id`; returns the result or raises a RemoteError. Notifications
-- that arrived before the response are handed to the callbacks first.
function Client:result(id, method)
  method = method or "call"
  local deadline = socket.gettime() + self.timeout
  while true do
    local r = self.responses[id]
    if r then
      self.responses[id] = nil
      self:_dispatch(r.seq)
      local e = r.error
      if e ~= nil then
        local code = type(e) == "table" and e.code or nil
        error(setmetatable({
          method = method, code = code, name = CODE_NAMES[code] or "ERROR",
          message = type(e) == "table" and tostring(e.message) or tostring(e),
        }, RemoteError), 2)
      end
      return r.result
    end
    self:_dispatch(math.huge)
    local left = deadline - socket.gettime()
    if left <= 0 then error(string.format("soundtrack: %s: no response within %g s", method, self.timeout), 2) end
    self:_read(left)
  end
end

--- Send a request and wait for its response; returns the result or raises a RemoteError.
function Client:call(method, params)
  return self:result(self:send(method, params), method)
end

--- Read and dispatch notifications that have arrived, waiting at most `wait` seconds (default 0).
function Client:poll(wait)
  local got = self:_read(wait or 0)
  self:_dispatch(math.huge)
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
function Client:send_render(frames, format) return self:send("render", { frames, format or "f32" }) end

function Client:subscribe(kinds) return self:call("subscribe", kinds and { msgpack.array(kinds) } or {}) end
function Client:unsubscribe(kinds) return self:call("unsubscribe", kinds and { msgpack.array(kinds) } or {}) end
function Client:status() return self:call("status", {}) end
function Client:stop(fade) return self:call("stop", named({ fade = fade })) end
function Client:shutdown() return self:call("shutdown", {}) end
function Client:ping(payload) return self:call("ping", { payload }) end

function Client:close()
  if self.sock then self.sock:close() end
  self.sock, self.closed = nil, true
end

--- Soundtrack.stream(client, source, opts): play through a QueueableSource, markers when heard.
function M.stream(client, source, opts) return require("soundtrack.stream")(client, source, opts) end

return M
