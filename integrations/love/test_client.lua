-- The conformance run of the Lua client against a live server (tests/test_integrations.py
-- runs it with lua5.4 and checks what it prints and the audio it writes):
--   lua5.4 test_client.lua HOST PORT EVENT SEED PRE_BLOCKS OUT.f32
-- Prints one line per fact: hello, error, start, note KIND FRAME, block FRAME FRAMES, plan,
-- param, done; writes every pulled sample, as decoded, to OUT.f32 (float32 little-endian).
package.path = "./?.lua;./?/init.lua;" .. package.path
local Soundtrack = require("soundtrack")

local host, port, event, seed, pre_blocks, out_path = arg[1], tonumber(arg[2]), arg[3], tonumber(arg[4]), tonumber(arg[5]), arg[6]
local BLOCK = 1024

local c = assert(Soundtrack.connect(host, port, 20))
local hello = c:hello({ role = "controller", client = "lua-conformance" })
print(string.format("hello protocol=%d role=%s sample_rate=%d channels=%d graph=%s",
  hello.protocol, hello.role, hello.sample_rate, hello.channels, hello.graph))

local ok, err = pcall(c.call, c, "no_such_method", {})
assert(not ok and getmetatable(err) == Soundtrack.RemoteError, tostring(err))
print(string.format("error code=%d name=%s", err.code, err.name))

c:on("*", function(p, kind) print(string.format("note %s %d", kind, p.frame)) end)
c:subscribe({ "beat", "bar", "transition", "state" })
c:load({ seed = seed })
local started = c:start()
print(string.format("start frame=%d state=%s", started.frame, started.state))

local out = assert(io.open(out_path, "wb"))
local frame = 0
local function pull()
  local b = c:render(BLOCK)
  print(string.format("block %d %d", b.frame, b.frames))
  assert(#b.pcm == b.frames * b.channels * 4, "pcm size")
  local samples, n = Soundtrack.msgpack.f32_samples(b.pcm)
  local packed = {}
  for i = 1, n do packed[i] = string.pack("<f", samples[i]) end
  out:write(table.concat(packed))
  frame = frame + b.frames
end

for _ = 1, pre_blocks do pull() end
local plan = c:event(event)
print(string.format("plan accepted=%s posted_frame=%d edit_frame=%d from=%s to=%s position=%s",
  tostring(plan.accepted), plan.posted_frame, plan.edit_frame, plan.from, plan.to, plan.position))
while frame < plan.edit_frame + 4 * BLOCK do pull() end
out:close()

local p = c:set_param("intensity", 0.9)
print(string.format("param frame=%d end_frame=%d", p.frame, p.end_frame))
print(string.format("done frames=%d", frame))
c:close()
