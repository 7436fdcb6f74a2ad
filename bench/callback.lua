-- wrk: POST the same M-Pesa success callback (bench/callbacks.sh writes its body to
-- CALLBACK_BODY's file) to the callback URL given on the command line.
local f = assert(io.open(os.getenv("CALLBACK_BODY"), "r"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"

function response(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
