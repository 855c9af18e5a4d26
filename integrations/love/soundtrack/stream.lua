-- Soundtrack.Stream: plays a client's music through a LÖVE QueueableSource (or anything with
-- the same four methods) and raises each marker when it is *heard*, not when it is pulled.
--
--   local Soundtrack = require("soundtrack")
--   local c = assert(Soundtrack.connect("127.0.0.1", 7700))
--   c:hello{ role = "controller" }; c:load(); c:start()
--   local source = love.audio.newQueueableSource(48000, 16, 2, 4)
--   local music = Soundtrack.stream(c, source, { block = 1024 })
--   music:on("bar", function(m) flash() end)        -- fires as the bar is heard
--   function love.update() music:update() end
--
-- The heard frame is the frames queued into the source minus those still waiting in it (whole
-- buffers not yet started, and the unplayed part of the one playing) minus `latency_frames`,
-- the device's own buffer (OpenAL does not report it; about 1024 frames on most desktops).
-- Make the stream before queueing anything into the source (it counts the source's buffers).
-- `render` requests are kept `in_flight` deep, so the round trip overlaps the playing buffers.
-- When the server goes away, update() keeps the game running, retries every `retry` seconds,
-- and calls `on_connect(client)` (default: hello, load, start) once it is back.

local socket = require("socket")

local Stream = {}
Stream.__index = Stream

local function default_connect(c)
  c:hello({ role = "controller" })
  c:load()
  c:start()
end

--- A stream over `client` into `source`. opts: block (frames per buffer, 1024), format ("s16"),
-- in_flight (render requests outstanding, 2), latency_frames (0), retry (seconds, 0.5),
-- sample_rate (the server's, 48000),
-- on_connect(client), to_buffer(block) -> a SoundData (default: love.sound, s16 via ffi).
local function new(client, source, opts)
  opts = opts or {}
  local self = setmetatable({
    client = client, source = source,
    block = opts.block or 1024, format = opts.format or "s16", in_flight = opts.in_flight or 2,
    latency_frames = opts.latency_frames or 0, retry = opts.retry or 0.5,
    on_connect = opts.on_connect or default_connect, to_buffer = opts.to_buffer,
    sample_rate = opts.sample_rate or 48000, capacity = source:getFreeBufferCount(),
    handlers = {}, markers = {}, mhead = 1, mtail = 0, requests = {}, queued = {}, qhead = 1, qtail = 0,
    total = 0, offset = nil, last_error = nil, next_retry = 0, lost = false,
  }, Stream)
  if not self.to_buffer then
    local ok_ffi, ffi = pcall(require, "ffi")
    self.to_buffer = function(b)
      local sd = love.sound.newSoundData(b.frames, self.sample_rate, 16, b.channels)
      if ok_ffi and sd.getFFIPointer then
        ffi.copy(sd:getFFIPointer(), b.pcm, #b.pcm)  -- s16 little-endian is SoundData's layout
      else
        for i = 0, b.frames * b.channels - 1 do
          local lo, hi = b.pcm:byte(2 * i + 1, 2 * i + 2)
          local v = hi * 256 + lo
          if v >= 32768 then v = v - 65536 end
          sd:setSample(i, v / 32768)
        end
      end
      return sd
    end
  end
  return self
end

--- fn(marker, kind) for markers of `kind` (or "*"), raised from update() when heard.
function Stream:on(kind, fn)
  local list = self.handlers[kind] or {}
  list[#list + 1] = fn
  self.handlers[kind] = list
  return self
end

--- The output frame being heard now (counted from the server's `load`, like every marker), or
-- nil before the first block of the session is queued.
function Stream:heard_frame()
  if self.offset == nil then return nil end
  -- buffers the source has finished are free again: drop them from the waiting list
  local busy = self.qtail - self.qhead + 1
  local done = busy - (self.capacity - self.source:getFreeBufferCount())
  while done > 0 and self.qhead <= self.qtail do
    self.queued[self.qhead] = nil
    self.qhead = self.qhead + 1
    done = done - 1
  end
  local waiting = 0
  for i = self.qhead, self.qtail do waiting = waiting + self.queued[i] end
  if self.qhead <= self.qtail and self.source:isPlaying() then
    waiting = waiting - math.min(self.source:tell("samples"), self.queued[self.qhead])
  end
  return self.total - waiting - self.latency_frames - self.offset
end

function Stream:_fire(heard)
  while self.mhead <= self.mtail and self.markers[self.mhead].frame <= heard do
    local m = self.markers[self.mhead]
    self.markers[self.mhead] = nil
    self.mhead = self.mhead + 1
    for _, key in ipairs({ m.kind, "*" }) do
      for _, fn in ipairs(self.handlers[key] or {}) do fn(m, m.kind) end
    end
  end
  if self.mhead > self.mtail then self.markers, self.mhead, self.mtail = {}, 1, 0 end
end

function Stream:_pull()
  local c = self.client
  while #self.requests < self.in_flight do
    self.requests[#self.requests + 1] = c:send_render(self.block, self.format)
  end
  while self.source:getFreeBufferCount() > 0 do
    local b = c:result(table.remove(self.requests, 1), "render")
    if self.offset == nil then self.offset = self.total - b.frame end
    self.source:queue(self.to_buffer(b))
    self.qtail = self.qtail + 1
    self.queued[self.qtail] = b.frames
    self.total = self.total + b.frames
    for _, m in ipairs(b.markers or {}) do
      self.mtail = self.mtail + 1
      self.markers[self.mtail] = m
    end
    self.requests[#self.requests + 1] = c:send_render(self.block, self.format)
  end
  if not self.source:isPlaying() then self.source:play() end
end

--- Call once a frame: keeps the source fed, raises the markers heard by now, reconnects.
-- Returns false (and sets self.last_error) while the server is away.
function Stream:update()
  local c = self.client
  if self.lost then
    if socket.gettime() < self.next_retry then return false end
    self.next_retry = socket.gettime() + self.retry
    local ok, err = c:reconnect(0.2)
    if ok then ok, err = pcall(self.on_connect, c) end
    if not ok then self.last_error = tostring(err); return false end
    -- a new session counts from frame 0 again; what is still queued plays out first
    self.lost, self.requests, self.offset = false, {}, nil
    self.markers, self.mhead, self.mtail = {}, 1, 0
  end
  local ok, err = pcall(self._pull, self)
  if not ok then
    self.last_error, self.lost = tostring(err), true
    self.next_retry = socket.gettime() + self.retry
    return false
  end
  local heard = self:heard_frame()
  if heard then self:_fire(heard) end
  return true
end

return new
