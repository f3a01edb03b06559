-- wrk script of the ingest benchmark: POST JSON bodies read from files, in turn, and print a
-- machine-readable summary.
--
--   wrk -t1 -c64 -d10s --latency -s bench/ingest_wrk.lua URL -- BODY.json [BODY.json ...]
--
-- Each request takes the next body file (round robin), so a run cycles through distinct alerts.
-- The last line of output is `WRK_JSON {...}`: requests, duration, errors by kind (status
-- counts every answer that is not 2xx or 3xx) and latency percentiles in microseconds.

local requests = {}
local next_index = 0

function init(args)
  for _, path in ipairs(args) do
    local file = assert(io.open(path, "rb"))
    local body = file:read("*a")
    file:close()
    local headers = { ["Content-Type"] = "application/json" }
    requests[#requests + 1] = wrk.format("POST", nil, headers, body)
  end
  if #requests == 0 then
    error("ingest_wrk.lua: give at least one body file after --")
  end
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max
  ))
end
