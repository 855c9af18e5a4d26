-- Re-entrancy of the Lua client against a live server (tests/test_integrations.py runs it):
--   lua5.4 test_reentrant.lua HOST PORT SEED EVENT
-- Every notification callback calls status(); the callback of the beat at frame 24000 posts
-- EVENT. Prints: note KIND FRAME status=FRAME, nested-plan ..., block FRAME FRAMES, done.
package.path = "./?.lua;./?/init.lua;" .. package.path
local Soundtrack = require("soundtrack")

local host, port, seed, event = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
local BLOCK = 1024
local c = assert(Soundtrack.connect(host, port, 5))
c:hello({ role = "controller", client = "lua-reentrant" })
local edit = nil
c:on("*", function(p, kind)
  local s = c:status()
  print(string.format("note %s %d status=%d", kind, p.frame, s.frame))
  if kind == "beat" and p.frame == 24000 then
    local plan = c:event(event)
    edit = plan.edit_frame
    print(string.format("nested-plan accepted=%s edit_frame=%d", tostring(plan.accepted), plan.edit_frame))
  end
end)
c:subscribe({ "beat", "bar", "transition", "state" })
c:load({ seed = seed })
c:start()
local frame = 0
while edit == nil or frame < edit + 4 * BLOCK do
  local b = c:render(BLOCK)
  print(string.format("block %d %d", b.frame, b.frames))
  frame = frame + b.frames
  if frame > 200000 then break end
end
print(string.format("done frames=%d", frame))
c:close()
