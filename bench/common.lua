-- bench/common.lua: shared by the wrk scripts of build/bench (loaded with dofile).
-- Each wrk thread gets its own id (setup) so that random sequences differ per thread.
local M = {}

local threads = {}
local counter = 0

function M.setup(thread)
   counter = counter + 1
   thread:set("thread_id", counter)
   table.insert(threads, thread)
end

function M.threads() return threads end

function M.seed()
   math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919)
   for _ = 1, 10 do math.random() end
end

function M.rows()
   return tonumber(os.getenv("BENCH_ROWS") or "100") or 100
end

-- Pre-formats `n` requests (a ring) so that request() costs one table lookup.
function M.ring(n, make)
   local ring = {}
   for i = 1, n do ring[i] = make(i) end
   local i = 0
   return function()
      i = i + 1
      if i > n then i = 1 end
      return ring[i]
   end
end

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function M.base64(s)
   return ((s:gsub(".", function(x)
      local r, b = "", x:byte()
      for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
      return r
   end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
      if #x < 6 then return "" end
      local c = 0
      for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
      return b64chars:sub(c + 1, c + 1)
   end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

return M
