-- PATCH /api/musics/<random id 1..BENCH_ROWS>/ {"song":"patched_<n>"}; credentials from -H.
local dir = (os.getenv("BENCH_LUA_DIR") or "bench") .. "/"
local c = dofile(dir .. "common.lua")

function setup(thread) c.setup(thread) end

local next_request
function init(args)
   c.seed()
   local rows = c.rows()
   local prefix = os.getenv("BENCH_API_PREFIX") or "/api/"
   local headers = {}
   for k, v in pairs(wrk.headers) do headers[k] = v end
   headers["Content-Type"] = "application/json"
   next_request = c.ring(4096, function(i)
      local body = '{"song":"patched_' .. math.random(1, 1000000) .. '"}'
      return wrk.format("PATCH", prefix .. "musics/" .. math.random(1, rows) .. "/", headers, body)
   end)
end

function request() return next_request() end
