-- Reconnecting after the server is killed and started again (tests/test_integrations.py):
--   lua5.4 test_reconnect.lua HOST PORT SEED OUT.f32
-- Pulls 8 blocks, prints "ready", keeps pulling until the connection drops ("lost MESSAGE"),
-- dials again every 50 ms until the new server answers ("reconnected tries=N"), starts a new
-- session and writes its first 8 blocks to OUT.f32.
package.path = "./?.lua;./?/init.lua;" .. package.path
local socket = require("socket")
local Soundtrack = require("soundtrack")

local host, port, seed, out_path = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
local BLOCK = 1024
local c = assert(Soundtrack.connect(host, port, 5))
local function begin()
  c:hello({ role = "controller", client = "lua-reconnect" })
  c:load({ seed = seed })
  c:start()
end
begin()
for _ = 1, 8 do c:render(BLOCK) end
print("ready")
io.stdout:flush()
local deadline = socket.gettime() + 30
while true do
  local ok, err = pcall(c.render, c, BLOCK)
  if not ok then print("lost " .. tostring(err)); break end
  socket.sleep(0.01)
  if socket.gettime() > deadline then print("never lost"); os.exit(1) end
end
local tries = 0
while true do
  tries = tries + 1
  local ok = c:reconnect(0.5)
  if ok and pcall(begin) then break end
  if socket.gettime() > deadline then print("never reconnected"); os.exit(1) end
  socket.sleep(0.05)
end
print(string.format("reconnected tries=%d", tries))
local out = assert(io.open(out_path, "wb"))
for _ = 1, 8 do
  local b = c:render(BLOCK)
  print(string.format("block %d %d", b.frame, b.frames))
  out:write(b.pcm)
end
out:close()
print("done")
c:close()
