-- wrk: POST batches of BATCH fresh usage events (ids unique per thread and request) to
-- /api/v1/usage with the API key in USAGE_KEY; a non-200 answer or an answer that did not
-- accept the whole batch is reported on stderr.
local batch = tonumber(os.getenv("BATCH") or "1000")
local key = os.getenv("USAGE_KEY")
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  table.insert(threads, thread)
end

function init(args)
  seq = 0
  run = os.getenv("RUN") or "r"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. key
end

function request()
  seq = seq + 1
  local parts = {}
  for i = 1, batch do
    parts[i] = string.format('{"id":"%s-%d-%d-%d","metric":"sms","quantity":1}', run, tid, seq, i)
  end
  return wrk.format(nil, "/api/v1/usage", nil, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"duplicates":0', 1, true) then
    io.stderr:write("status " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
  end
end
