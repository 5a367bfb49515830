-- Brute force against Basic auth: every request carries user BENCH_BRUTE_USER (admin) with
-- a password never sent before, so neither the verified-credentials cache nor the
-- failed-credentials cache can answer: each one costs a full PBKDF2 check on the server.
-- done() prints "BRUTE status=<code> count=<n>" lines (all threads).
-- BENCH_BRUTE_RATE paces the attack: each thread hands out send times 1/rate apart (a
-- monotonic clock through LuaJIT's FFI), so with enough connections the server sees that many
-- wrong passwords per second, evenly spread, whatever it answers; unset: as fast as answers
-- come back.
local dir = (os.getenv("BENCH_LUA_DIR") or "bench") .. "/"
local c = dofile(dir .. "common.lua")

function setup(thread) c.setup(thread) end

local user = os.getenv("BENCH_BRUTE_USER") or "admin"
local path = (os.getenv("BENCH_API_PREFIX") or "/api/") .. "musics/1/"
local n = 0
statuses = {}

function init(args)
   c.seed()
   salt = tostring(math.random(1, 1000000000))
end

local rate = tonumber(os.getenv("BENCH_BRUTE_RATE") or "0")
-- the attack's wrk threads (-t): each paces its own share of the rate
local threads_count = tonumber(os.getenv("BENCH_BRUTE_THREADS") or "1")
if rate > 0 then
   local ffi = require("ffi")
   ffi.cdef[[
      typedef struct { long tv_sec; long tv_nsec; } ngxm_timespec;
      int clock_gettime(int clk_id, ngxm_timespec *tp);
   ]]
   local ts = ffi.new("ngxm_timespec")
   local function now_ms()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
   end
   local next_slot = nil
   -- called before each request of this thread's connections: the next free send time
   function delay()
      local now = now_ms()
      local interval = 1000 * threads_count / rate
      if next_slot == nil or next_slot < now then next_slot = now end
      local wait = next_slot - now
      next_slot = next_slot + interval
      return math.floor(wait)
   end
end

function request()
   n = n + 1
   local pw = "wrong-" .. thread_id .. "-" .. salt .. "-" .. n
   return wrk.format("GET", path, { ["Authorization"] = "Basic " .. c.base64(user .. ":" .. pw) })
end

function response(status, headers, body)
   local k = tostring(status)
   statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
   local total = {}
   for _, t in ipairs(c.threads()) do
      local s = t:get("statuses")
      for k, v in pairs(s) do total[k] = (total[k] or 0) + v end
   end
   for k, v in pairs(total) do io.write(string.format("BRUTE status=%s count=%d\n", k, v)) end
end
