#!/usr/bin/env bash
# M-Pesa callbacks on PostgreSQL + Redis: how many Safaricom callbacks one API node
# acknowledges per second, durably (each one stored and its processing job queued in one
# transaction before the 200), its p99 latency, and how fast one `msingi worker` then
# processes them.
#   A tenant, an invoice and a pending STK push are made through the API (the simulator
#   holds its answer back); wrk then POSTs Safaricom's success callback for that push to its
#   signed URL for DURATION seconds on CONNECTIONS connections. The first copy settles the
#   invoice; every other copy is processed too (the payment, locked, is already final: no
#   second settlement), so "processed/s" is the rate of the whole processing path.
#
# usage: [DURATION=20] [CONNECTIONS=16] bench/callbacks.sh
# needs: target/release/msingi (BIN=path), PostgreSQL on $PG_ADMIN_URL (default
#        postgres://postgres@127.0.0.1:5432/postgres), Redis on $REDIS (default
#        redis://127.0.0.1:6379), psql, python3, wrk
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-20}"
connections="${CONNECTIONS:-16}"
db=msingi_callbacks_bench
port=18391
# shellcheck source=bench/pg-server.sh
. bench/pg-server.sh
export REDIS_URL="${REDIS:-redis://127.0.0.1:6379}" MSINGI_JOBS_NAMESPACE="callbacks-$$"
export MPESA_CALLBACK_SECRET="bench-callback-secret" MPESA_SIM_CALLBACK_DELAY_MS=3600000
start_server

# A tenant with an open invoice (its trial ended: cancel, then choose starter again) and a
# pending push for it.
python3 - "$port" "$work" <<'PY'
import hashlib, hmac, json, sys, urllib.request
port, work = sys.argv[1], sys.argv[2]
def gql(query, variables=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    out = json.load(urllib.request.urlopen(req))
    assert not out.get("errors"), out
    return out["data"]
reg = gql("mutation($i: RegisterInput!) { register(input: $i) { accessToken activeTenant { id } } }",
    {"i": {"email": "bench@duka.example", "password": "correct horse battery", "name": "Bench", "tenantName": "Bench"}})
token, tenant = reg["register"]["accessToken"], reg["register"]["activeTenant"]["id"]
gql("mutation { cancelSubscription(atPeriodEnd: false) { status } }", token=token)
gql('mutation { changePlan(planCode: "starter") { status } }', token=token)
invoice = gql("{ invoices(first: 1) { edges { node { id } } } }", token=token)["invoices"]["edges"][0]["node"]["id"]
pay = gql("mutation($i: ID!) { payInvoice(invoiceId: $i, phoneNumber: \"0708374149\") { id checkoutRequestId amount { amount } } }",
    {"i": invoice}, token)["payInvoice"]
sig = hmac.new(b"bench-callback-secret", f"mpesa-callback:{tenant}:{pay['id']}".encode(), hashlib.sha256).hexdigest()
open(f"{work}/url", "w").write(f"http://127.0.0.1:{port}/webhooks/mpesa/{tenant}/{pay['id']}/{sig}")
body = {"Body": {"stkCallback": {"MerchantRequestID": "29115-34620561-1", "CheckoutRequestID": pay["checkoutRequestId"],
    "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
    "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": float(pay["amount"]["amount"])},
        {"Name": "MpesaReceiptNumber", "Value": "NLJ7RT61SV"}, {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20261201102115}, {"Name": "PhoneNumber", "Value": 254708374149}]}}}}
open(f"{work}/body.json", "w").write(json.dumps(body))
PY

CALLBACK_BODY="$work/body.json" wrk -t2 -c"$connections" -d"${duration}s" --latency \
  -s bench/callback.lua "$(cat "$work/url")" >"$work/wrk.out"
cat "$work/wrk.out"
stored=$(count "SELECT count(*) FROM mpesa_callbacks")
requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
ack_rate=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")

# Now one worker processes the backlog.
start=$(date +%s.%N)
"$bin" worker >>"$work/worker.log" 2>&1 &
pids+=($!)
until [ "$(count "SELECT count(*) FROM mpesa_callbacks WHERE status = 'RECEIVED'")" -eq 0 ]; do sleep 0.2; done
took=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
processed_rate=$(python3 -c "print(f'{$stored / $took:.0f}')")
paid=$(count "SELECT amount_paid_minor FROM invoices")
total=$(count "SELECT total_minor FROM invoices")
credit=$(count "SELECT credit_minor FROM tenants")
echo "RESULT acknowledged_per_s=$ack_rate p99=$p99 requests=$requests stored=$stored processed=$stored in ${took}s processed_per_s=$processed_rate invoice_paid_minor=$paid of $total credit_minor=$credit"
