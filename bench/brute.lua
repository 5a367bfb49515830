-- Brute force against Basic auth: every request carries user BENCH_BRUTE_USER (admin) with
-- a password never sent before, so neither the verified-credentials cache nor the
-- failed-credentials cache can answer: each one costs a full PBKDF2 check on the server.
-- done() prints "BRUTE status=<code> count=<n>" lines (all threads).
-- BENCH_BRUTE_DELAY_MS paces each connection (a pause before every request): connections x
-- 1000 / delay is then the highest attack rate, whatever the server answers.
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

local pause = tonumber(os.getenv("BENCH_BRUTE_DELAY_MS") or "0")
if pause > 0 then
   function delay() return pause end
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
