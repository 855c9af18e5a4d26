-- Round trips through the Lua client (integrations/bench_latency.py runs it):
--   lua5.4 test_latency.lua HOST PORT N
-- Prints: latency render_p50_us=.. render_p99_us=.. ping_p50_us=.. ping_p99_us=..
package.path = "./?.lua;./?/init.lua;" .. package.path
local socket = require("socket")
local Soundtrack = require("soundtrack")
local host, port, n = arg[1], tonumber(arg[2]), tonumber(arg[3])
local c = assert(Soundtrack.connect(host, port, 10))
c:hello({ role = "controller" }); c:load({ seed = 1 }); c:start()
local function measure(fn)
  for _ = 1, 50 do fn() end
  local t = {}
  for i = 1, n do
    local t0 = socket.gettime()
    fn()
    t[i] = (socket.gettime() - t0) * 1e6
  end
  table.sort(t)
  return t[math.floor(n * 0.5) + 1], t[math.floor(n * 0.99) + 1]
end
local r50, r99 = measure(function() c:render(1024) end)
local p50, p99 = measure(function() c:ping(1) end)
print(string.format("latency render_p50_us=%.0f render_p99_us=%.0f ping_p50_us=%.0f ping_p99_us=%.0f", r50, r99, p50, p99))
c:close()
