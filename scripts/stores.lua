-- wrk script: the authenticated `stores(first: 20)` query.
-- TOKEN (an access token) and TENANT (its tenant id) come from the environment.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
-- SELECTION (optional) replaces what is asked of each store page, e.g. without totalCount.
local selection = os.getenv("SELECTION") or "totalCount edges { node { id name code status } }"
wrk.body = '{"query":"{ stores(first: 20) { ' .. selection .. ' } }"}'

local errors = 0
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("requests: %d, GraphQL or HTTP errors: %d\n", summary.requests, errors))
  io.write(string.format("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
