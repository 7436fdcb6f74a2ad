-- wrk script: the login mutation for one account (EMAIL and PASSWORD from the environment).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format(
  '{"query":"mutation { login(input: {email: \\"%s\\", password: \\"%s\\"}) { accessToken } }"}',
  os.getenv("EMAIL"), os.getenv("PASSWORD"))

local errors = 0
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format("requests: %d, errors: %d\n", summary.requests, errors))
  io.write(string.format("p50 %.1f ms, p99 %.1f ms\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
