-- wrk script: POST BODY with Authorization: Bearer TOKEN; every answer must be 200 and
-- contain EXPECT and no "errors". Failures are summed over wrk's threads.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = os.getenv("BODY")
local expect = os.getenv("EXPECT")

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failures = 0 end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) or string.find(body, '"errors"', 1, true) then
    failures = failures + 1
  end
end
function done(summary, latency, requests)
  local failed = 0
  for _, thread in ipairs(threads) do failed = failed + thread:get("failures") end
  io.write(string.format("RESULT rps=%.1f p50=%.2f p99=%.2f requests=%d failed=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.requests, failed))
end
