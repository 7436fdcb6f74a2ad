#!/usr/bin/env bash
# M-Pesa settlements end to end on PostgreSQL + Redis: how many distinct payments one
# `msingi worker` settles per second once their success callbacks are in.
#   TENANTS tenants each get an open invoice and a pending STK push through the API (the
#   simulator holds its answers back). Safaricom's success callback for every push is
#   POSTed to its signed URL (each acknowledged durably: stored, its job queued). Then one
#   worker starts, and the clock runs until every payment is SUCCEEDED and every invoice
#   PAID: each settlement locks the payment, checks amount and phone, settles the invoice,
#   writes the audit entry and queues the owner's receipt email.
#
# usage: [TENANTS=300] bench/settlements.sh
# needs: target/release/msingi (BIN=path), PostgreSQL on $PG_ADMIN_URL (default
#        postgres://postgres@127.0.0.1:5432/postgres), Redis on $REDIS (default
#        redis://127.0.0.1:6379), psql, python3
set -euo pipefail
cd "$(dirname "$0")/.."
tenants="${TENANTS:-300}"
db=msingi_settlements_bench
port=18393
# shellcheck source=bench/pg-server.sh
. bench/pg-server.sh
export REDIS_URL="${REDIS:-redis://127.0.0.1:6379}" MSINGI_JOBS_NAMESPACE="settlements-$$"
export MPESA_CALLBACK_SECRET="bench-callback-secret" MPESA_SIM_CALLBACK_DELAY_MS=3600000
# Each owner signs up from an address of its own (sign-ups per address are throttled),
# given in X-Forwarded-For by the trusted loopback "proxy".
export TRUSTED_PROXIES=127.0.0.1
start_server

# Every tenant: an open invoice (its trial ended: cancel, then choose starter again), a
# pending push, and its success callback POSTed.
python3 - "$port" "$tenants" <<'PY'
import hashlib, hmac, json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
port, tenants = sys.argv[1], int(sys.argv[2])
def post(path, body, token=None, source=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if source:
        headers["X-Forwarded-For"] = source
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), headers=headers)
    return json.load(urllib.request.urlopen(req))
def gql(query, variables=None, token=None, source=None):
    out = post("/graphql", {"query": query, "variables": variables or {}}, token, source)
    assert not out.get("errors"), out
    return out["data"]
def one(i):
    reg = gql("mutation($i: RegisterInput!) { register(input: $i) { accessToken activeTenant { id } } }",
        {"i": {"email": f"owner{i}@duka.example", "password": "correct horse battery", "name": f"Owner {i}", "tenantName": f"Duka {i}"}},
        source=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}")
    token, tenant = reg["register"]["accessToken"], reg["register"]["activeTenant"]["id"]
    gql("mutation { cancelSubscription(atPeriodEnd: false) { status } }", token=token)
    gql('mutation { changePlan(planCode: "starter") { status } }', token=token)
    invoice = gql("{ invoices(first: 1) { edges { node { id } } } }", token=token)["invoices"]["edges"][0]["node"]["id"]
    pay = gql("mutation($i: ID!) { payInvoice(invoiceId: $i, phoneNumber: \"0708374149\") { id checkoutRequestId amount { amount } } }",
        {"i": invoice}, token)["payInvoice"]
    sig = hmac.new(b"bench-callback-secret", f"mpesa-callback:{tenant}:{pay['id']}".encode(), hashlib.sha256).hexdigest()
    body = {"Body": {"stkCallback": {"MerchantRequestID": f"29115-{i}-1", "CheckoutRequestID": pay["checkoutRequestId"],
        "ResultCode": 0, "ResultDesc": "The service request is processed successfully.",
        "CallbackMetadata": {"Item": [{"Name": "Amount", "Value": float(pay["amount"]["amount"])},
            {"Name": "MpesaReceiptNumber", "Value": f"NLJ{i:07d}"}, {"Name": "Balance"},
            {"Name": "TransactionDate", "Value": 20261201102115}, {"Name": "PhoneNumber", "Value": 254708374149}]}}}}
    answer = post(f"/webhooks/mpesa/{tenant}/{pay['id']}/{sig}", body)
    assert answer["ResultCode"] == 0, answer
with ThreadPoolExecutor(8) as pool:
    list(pool.map(one, range(tenants)))
PY

stored=$(count "SELECT count(*) FROM mpesa_callbacks WHERE status = 'RECEIVED'")
start=$(date +%s.%N)
"$bin" worker >>"$work/worker.log" 2>&1 &
pids+=($!)
until [ "$(count "SELECT count(*) FROM payments WHERE status = 'SUCCEEDED'")" -eq "$tenants" ]; do sleep 0.1; done
took=$(python3 -c "print(f'{$(date +%s.%N) - $start:.2f}')")
paid=$(count "SELECT count(*) FROM invoices WHERE status = 'PAID'")
rate=$(python3 -c "print(f'{$tenants / $took:.0f}')")
echo "RESULT tenants=$tenants callbacks_stored=$stored settled=$tenants in ${took}s settled_per_s=$rate invoices_paid=$paid"
[ "$paid" -eq "$tenants" ] || { echo "not every invoice is paid"; exit 1; }
