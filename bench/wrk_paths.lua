-- wrk script: GET the request paths listed in the file named by WRK_PATHS, round-robin
-- (each thread starts at a different offset), and print a JSON summary with p50/p95/p99
-- latencies, request and error counts on the last line.
local paths = {}
local counter = 0

function setup(thread)
  thread:set("offset", counter * 997)
  counter = counter + 1
end

function init(args)
  local file = os.getenv("WRK_PATHS")
  for line in io.lines(file) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  i = offset or 0
end

function request()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1], {["Accept"] = "application/geo+json"})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "bytes": %d, "rps": %.1f, ' ..
    '"p50_ms": %.2f, "p95_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "mean_ms": %.2f, ' ..
    '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_status": %d, ' ..
    '"errors_timeout": %d}\n',
    summary.requests, summary.duration / 1e6, summary.bytes,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
