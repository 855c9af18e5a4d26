-- Soundtrack.stream raises markers when they are heard (tests/test_integrations.py runs it):
--   lua5.4 test_stream.lua HOST PORT SEED LATENCY_FRAMES
-- A stand-in for a LÖVE QueueableSource (4 buffers) plays TICK frames per update, as the
-- sound card would; the speaker is LATENCY_FRAMES behind what the source has played. Each
-- marker prints: heard KIND FRAME speaker=FRAME pulled=FRAME.
package.path = "./?.lua;./?/init.lua;" .. package.path
local Soundtrack = require("soundtrack")

local host, port, seed, latency = arg[1], tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4])
local TICK = 256

local Fake = {}
Fake.__index = Fake
local source = setmetatable({ buffers = {}, capacity = 4, played = 0, in_head = 0, playing = false }, Fake)
function Fake:getFreeBufferCount() return self.capacity - #self.buffers end
function Fake:queue(frames) assert(#self.buffers < self.capacity, "queue overflow"); self.buffers[#self.buffers + 1] = frames end
function Fake:play() self.playing = true end
function Fake:isPlaying() return self.playing and #self.buffers > 0 end
function Fake:tell() return self.in_head end
function Fake:tick(n)  -- the sound card takes n frames
  while n > 0 and #self.buffers > 0 do
    local take = math.min(n, self.buffers[1] - self.in_head)
    self.in_head, self.played, n = self.in_head + take, self.played + take, n - take
    if self.in_head == self.buffers[1] then table.remove(self.buffers, 1); self.in_head = 0 end
  end
end

local c = assert(Soundtrack.connect(host, port, 5))
c:hello({ role = "controller", client = "lua-stream" })
c:load({ seed = seed })
c:start()
local music = Soundtrack.stream(c, source, { block = 1024, format = "f32", latency_frames = latency,
  to_buffer = function(b) return b.frames end })
music:on("*", function(m, kind)
  print(string.format("heard %s %d speaker=%d pulled=%d", kind, m.frame, source.played - latency, music.total))
end)
for _ = 1, 600 do  -- 600 ticks of 256 frames: 3.2 s of music
  assert(music:update(), music.last_error)
  source:tick(TICK)
end
print(string.format("done speaker=%d", source.played - latency))
c:close()
