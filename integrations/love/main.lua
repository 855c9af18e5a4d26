-- A LÖVE 11 example: music from `soundtrack serve`, played through a QueueableSource by
-- Soundtrack.stream, which raises each marker as it is heard and reconnects by itself.
--   soundtrack serve graphs/dungeon.toml --tcp 127.0.0.1:7700 &
--   love integrations/love          (space: enemy_spotted, c: enemy_lost, up/down: intensity)
local Soundtrack = require("soundtrack")

local BLOCK = 1024   -- frames per queued buffer (21 ms at 48 kHz)
local BUFFERS = 4    -- queued buffers: an event sounds up to BUFFERS * BLOCK frames later
local client, music
local intensity, last = 0.5, "waiting for the first bar"

function love.load()
  local addr = os.getenv("SOUNDTRACK_TCP") or "127.0.0.1:7700"
  local host, port = addr:match("^(.*):(%d+)$")
  client = assert(Soundtrack.connect(host, tonumber(port)))
  local hello = client:hello({ role = "controller", client = "love-example" })
  client:load()
  client:start()
  local source = love.audio.newQueueableSource(hello.sample_rate, 16, hello.channels, BUFFERS)
  music = Soundtrack.stream(client, source, { block = BLOCK, sample_rate = hello.sample_rate, latency_frames = 1024 })
  music:on("bar", function(m) last = string.format("bar %d of %s", m.bar or 0, m.state) end)
  music:on("transition", function(m) last = string.format("%s -> %s at frame %d", m.from, m.to, m.frame) end)
end

function love.update()
  if not music:update() then last = "server away: " .. tostring(music.last_error) end
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
