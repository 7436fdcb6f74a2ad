-- wrk: POST the `usage(DAY)` query in REPORT_BODY's file to /graphql as the owner
-- (ACCESS_TOKEN); an answer with errors is reported on stderr.
local f = assert(io.open(os.getenv("REPORT_BODY"), "r"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ACCESS_TOKEN")

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    io.stderr:write("status " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
  end
end
