-- wrk script of scripts/benchmark: replays a pre-drawn list of request paths (one per line,
-- the file named after `--`) in order, each wrk thread from its own offset, and prints one
-- JSON line with the figures the benchmark keeps (status counts, latency percentiles).
--
--   wrk -t1 -c32 -d12s --latency -s scripts/bench_requests.lua http://127.0.0.1:8000 -- paths.txt

local threads = {}

function setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function init(args)
   local path_file = args[1] or error("give the request list file after --")
   requests = {}
   for line in io.lines(path_file) do
      if line ~= "" then
         requests[#requests + 1] = wrk.format("GET", line)
      end
   end
   if #requests == 0 then
      error("no request paths in " .. path_file)
   end
   -- Threads start apart in the list so that they do not send the same requests in step.
   position = (id * 7919) % #requests
   statuses = {}
end

function request()
   position = position % #requests + 1
   return requests[position]
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests_stats)
   local counts = {}
   for _, thread in ipairs(threads) do
      local thread_statuses = thread:get("statuses")
      for status, count in pairs(thread_statuses) do
         counts[status] = (counts[status] or 0) + count
      end
   end
   local status_parts = {}
   for status, count in pairs(counts) do
      status_parts[#status_parts + 1] = string.format('"%d": %d', status, count)
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
         .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"statuses": {%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      table.concat(status_parts, ", ")
   ))
end
