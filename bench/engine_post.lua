-- wrk script of the engine benchmark: POST every line of a file once, in order, then stop.
--
--   wrk -t1 -c64 -d600s -s bench/engine_post.lua URL -- BODIES.jsonl
--
-- Each line of BODIES.jsonl is one request body (compact JSON, no newline inside). Requests
-- go out in file order; once every line was sent, the connections still asking for a request
-- get `GET /healthz` (no alert: nothing posted twice). As soon as every body has had its
-- answer (a body's answer is anything but the 200 of /healthz), the thread stops and prints
-- `WRK_DONE` (flushed): wrk's main thread sleeps for the whole -d, so the caller then sends
-- SIGINT, and wrk prints its summary. Use one thread (-t1): the order and the count are per
-- thread. The last line of output is `WRK_JSON {...}`, as bench/ingest_wrk.lua prints it
-- (`requests` counts those GETs too).

local requests = {}
local sent = 0
local answered = 0
local idle = nil
local verified = false

function init(args)
  local file = assert(io.open(args[1], "rb"))
  local headers = { ["Content-Type"] = "application/json" }
  for line in file:lines() do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  file:close()
  idle = wrk.format("GET", "/healthz")
  if #requests == 0 then
    error("engine_post.lua: the body file is empty")
  end
end

function request()
  if not verified then
    -- wrk calls request() once before any connection, to check what it returns: not a post
    verified = true
    return idle
  end
  sent = sent + 1
  if sent > #requests then
    return idle
  end
  return requests[sent]
end

function response(status, headers, body)
  if status == 200 then
    return
  end
  answered = answered + 1
  if answered == #requests then
    io.write("WRK_DONE\n")
    io.flush()
    wrk.thread:stop()
  end
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
