-- wrk script of scripts/bench/stress.py: replays a request list (one path per line, the file
-- named after `--`) and times every answer by its kind, which wrk alone cannot: each
-- request carries X-Request-ID: <thread>-<n>, the service echoes it, and the answer's
-- latency is counted under its kind (200, 404, "503 overloaded", "503 unavailable", 500...)
-- in a histogram of 1% wide buckets, kept flat ("kind|bucket" -> count: wrk 4.1 copies
-- only flat tables between its threads). Prints one JSON line at the end.
--
--   wrk -t2 -c512 -d20s -s scripts/bench/stress.lua http://127.0.0.1:8000 -- paths.txt

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } stress_timespec;
int clock_gettime(int clock_id, stress_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local now_ts = ffi.new("stress_timespec")

local function now_us()
   ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
   return tonumber(now_ts.tv_sec) * 1000000 + tonumber(now_ts.tv_nsec) / 1000
end

-- STRESS_POLITE=1: each connection waits out a 503's Retry-After before its next request,
-- as the README asks of clients (wrk calls delay() right after response(), for the same
-- connection). Defined only then: wrk routes every request through a timer once it exists.
if os.getenv("STRESS_POLITE") == "1" then
   function delay()
      local pause = pause_ms
      pause_ms = 0
      return pause
   end
end

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path_file = args[1] or error("give the request list file after --")
   paths = {}
   for line in io.lines(path_file) do
      if line ~= "" then
         paths[#paths + 1] = line
      end
   end
   position = (id * 7919) % #paths
   counter = 0
   sent = {}       -- request id -> send time (µs)
   histogram = {}  -- "kind|bucket" -> count
   unmatched = 0   -- answers without a known request id
   pause_ms = 0    -- the Retry-After of the answer just read (polite clients only)
end

function request()
   position = position % #paths + 1
   counter = counter + 1
   local request_id = id .. "-" .. counter
   sent[request_id] = now_us()
   return wrk.format("GET", paths[position], { ["X-Request-ID"] = request_id })
end

local function kind_of(status, body)
   if status == 503 then
      if body and string.find(body, "/problems/overloaded", 1, true) then
         return "503 overloaded"
      end
      return "503 unavailable"
   end
   return tostring(status)
end

function response(status, headers, body)
   if status == 503 then
      pause_ms = 1000 * (tonumber(headers["Retry-After"] or headers["retry-after"]) or 0)
   end
   local request_id = headers["X-Request-ID"] or headers["x-request-id"]
   local started = request_id and sent[request_id]
   if started == nil then
      unmatched = unmatched + 1
      return
   end
   sent[request_id] = nil
   local elapsed = math.max(now_us() - started, 1)
   local key = kind_of(status, body) .. "|" .. math.floor(math.log(elapsed) * 100)
   histogram[key] = (histogram[key] or 0) + 1
end

local function percentile(histogram, total, share)
   local buckets = {}
   for bucket, _ in pairs(histogram) do
      buckets[#buckets + 1] = bucket
   end
   table.sort(buckets)
   local seen, wanted = 0, math.max(1, math.ceil(total * share))
   for _, bucket in ipairs(buckets) do
      seen = seen + histogram[bucket]
      if seen >= wanted then
         return math.floor(math.exp((bucket + 0.5) / 100))
      end
   end
   return 0
end

function done(summary, latency, requests)
   local merged, lost = {}, 0
   for _, thread in ipairs(threads) do
      lost = lost + thread:get("unmatched")
      for key, count in pairs(thread:get("histogram")) do
         local kind, bucket = string.match(key, "^(.*)|(-?%d+)$")
         bucket = tonumber(bucket)
         merged[kind] = merged[kind] or {}
         merged[kind][bucket] = (merged[kind][bucket] or 0) + count
      end
   end
   local parts = {}
   for kind, histogram in pairs(merged) do
      local total = 0
      for _, count in pairs(histogram) do
         total = total + count
      end
      parts[#parts + 1] = string.format(
         '"%s": {"count": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}',
         kind, total, percentile(histogram, total, 0.5), percentile(histogram, total, 0.99),
         percentile(histogram, total, 1.0))
   end
   local errors = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "unmatched": %d, "socket_errors": {"connect": %d, '
         .. '"read": %d, "write": %d, "timeout": %d}, "kinds": {%s}}\n',
      summary.requests, summary.duration, lost, errors.connect, errors.read, errors.write,
      errors.timeout, table.concat(parts, ", ")))
end
