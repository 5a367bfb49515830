-- GET /api/musics/<random id 1..BENCH_ROWS>/ ; credentials come from wrk -H "Authorization: ...".
local dir = (os.getenv("BENCH_LUA_DIR") or "bench") .. "/"
local c = dofile(dir .. "common.lua")

function setup(thread) c.setup(thread) end

local next_request
function init(args)
   c.seed()
   local rows = c.rows()
   local prefix = os.getenv("BENCH_API_PREFIX") or "/api/"
   next_request = c.ring(4096, function()
      return wrk.format("GET", prefix .. "musics/" .. math.random(1, rows) .. "/")
   end)
end

function request() return next_request() end
