-- A LÖVE 11 example: music from `soundtrack serve`, played through a QueueableSource.
--   soundtrack serve graphs/dungeon.toml --tcp 127.0.0.1:7700 &
--   love integrations/love          (space: enemy_spotted, c: enemy_lost, up/down: intensity)
local Soundtrack = require("soundtrack")

local BLOCK = 2048   -- frames per queued buffer (43 ms at 48 kHz)
local BUFFERS = 4    -- queued buffers: the latency from an event to the sound is about BUFFERS * BLOCK
local client, source, hello
local intensity, last = 0.5, "waiting for the first bar"
local ok_ffi, ffi = pcall(require, "ffi")

local function to_sound_data(block)
  local sd = love.sound.newSoundData(block.frames, hello.sample_rate, 16, block.channels)
  if ok_ffi and sd.getFFIPointer then
    ffi.copy(sd:getFFIPointer(), block.pcm, #block.pcm)  -- s16 little-endian is SoundData's layout
  else
    for i = 0, block.frames * block.channels - 1 do
      local lo, hi = block.pcm:byte(2 * i + 1, 2 * i + 2)
      local v = hi * 256 + lo
      if v >= 32768 then v = v - 65536 end
      sd:setSample(i, v / 32768)
    end
  end
  return sd
end

function love.load()
  local addr = os.getenv("SOUNDTRACK_TCP") or "127.0.0.1:7700"
  local host, port = addr:match("^(.*):(%d+)$")
  client = assert(Soundtrack.connect(host, tonumber(port)))
  hello = client:hello({ role = "controller", client = "love-example" })
  client:load()
  client:on("bar", function(p) last = string.format("bar %d of %s", p.bar, p.state) end)
  client:on("transition", function(p) last = string.format("%s -> %s at frame %d", p.from, p.to, p.frame) end)
  client:subscribe({ "bar", "transition" })
  client:start()
  source = love.audio.newQueueableSource(hello.sample_rate, 16, hello.channels, BUFFERS)
end

function love.update()
  client:poll(0)
  while source:getFreeBufferCount() > 0 do
    source:queue(to_sound_data(client:render(BLOCK, "s16")))
  end
  if not source:isPlaying() then source:play() end
end

function love.keypressed(key)
  local ok, plan = pcall(function()
    if key == "space" then return client:event("enemy_spotted") end
    if key == "c" then return client:event("enemy_lost") end
    if key == "up" or key == "down" then
      intensity = math.max(0, math.min(1, intensity + (key == "up" and 0.1 or -0.1)))
      return client:set_param("intensity", intensity)
    end
  end)
  if not ok then last = tostring(plan) elseif plan and plan.edit_frame then
    last = string.format("%s: %s -> %s at %s", plan.event, plan.from, plan.to, plan.position)
  end
end

function love.draw()
  love.graphics.print(string.format("%s\nintensity %.1f\nspace: enemy_spotted  c: enemy_lost  up/down: intensity",
    last, intensity), 20, 20)
end

function love.quit() client:close() end
