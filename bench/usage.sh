#!/usr/bin/env bash
# Usage metering on PostgreSQL: events per second through `POST /api/v1/usage` in batches
# of 1,000 (idempotency on: every event's id checked against the tenant's unique key,
# rollups kept in the same transaction), then `usage(DAY)` latency with 10 million events
# stored for the tenant.
#   A platform admin adds the metric `sms` and a plan `metered` with the metering module;
#   an owner chooses it and makes an ingest key. wrk POSTs batches of fresh events for
#   DURATION seconds on CONNECTIONS connections; the script then checks that the stored
#   events, the period rollup and the answers agree. It tops the tenant up to TOTAL events
#   with SQL (spread over the last 30 days, rollups added alike) and measures the owner's
#   `usage(metric: "sms", granularity: DAY)` over those 30 days with wrk.
#
# usage: [DURATION=20] [CONNECTIONS=8] [TOTAL=10000000] bench/usage.sh
# needs: target/release/msingi (BIN=path), PostgreSQL on $PG_ADMIN_URL (default
#        postgres://postgres@127.0.0.1:5432/postgres, a superuser), psql, python3, wrk
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-20}"
connections="${CONNECTIONS:-8}"
total="${TOTAL:-10000000}"
db=msingi_usage_bench
port=18392
# shellcheck source=bench/pg-server.sh
. bench/pg-server.sh
export MSINGI_ADMIN_PASSWORD="bench admin password" MSINGI_ADMIN_EMAIL=admin@msingi.example
start_server "admin create --email $MSINGI_ADMIN_EMAIL"

python3 - "$port" "$work" <<'PY'
import json, sys, urllib.request
port, work = sys.argv[1], sys.argv[2]
def gql(query, variables=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})})
    out = json.load(urllib.request.urlopen(req))
    assert not out.get("errors"), out
    return out["data"]
login = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
admin = gql(login, {"i": {"email": "admin@msingi.example", "password": "bench admin password"}})["login"]["accessToken"]
gql("mutation($i: CreateMetricInput!) { createMetric(input: $i) { code } }",
    {"i": {"code": "sms", "name": "SMS", "unit": "message", "aggregation": "SUM"}}, admin)
gql("mutation($i: CreatePlanInput!) { createPlan(input: $i) { code } }",
    {"i": {"code": "metered", "name": "Metered", "price": "1000", "interval": "MONTH", "trialDays": 14,
           "modules": ["metering"], "limits": {"stores": 3, "members": 5},
           "meteredPrices": [{"metric": "sms", "unitPrice": "0.10", "includedUnits": 1000}]}}, admin)
owner = gql("mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
    {"i": {"email": "bench@duka.example", "password": "correct horse battery", "name": "Bench", "tenantName": "Bench"}})["register"]["accessToken"]
gql('mutation { changePlan(planCode: "metered") { status } }', token=owner)
owner = gql(login, {"i": {"email": "bench@duka.example", "password": "correct horse battery"}})["login"]["accessToken"]
key = gql('mutation { createApiKey(input: {name: "ingest", permissions: ["usage.write"]}) { secret } }', token=owner)["createApiKey"]["secret"]
open(f"{work}/key", "w").write(key)
open(f"{work}/owner", "w").write(owner)
PY

RUN="r$$" USAGE_KEY="$(cat "$work/key")" wrk -t2 -c"$connections" -d"${duration}s" --latency \
  -s bench/usage.lua "http://127.0.0.1:$port" >"$work/wrk.out" 2>"$work/wrk.err"
cat "$work/wrk.out"
refused=$(wc -l <"$work/wrk.err")
head -3 "$work/wrk.err"
requests=$(awk '/requests in/ {print $1}' "$work/wrk.out")
seconds=$(awk '/requests in/ {sub(/s,/, "", $4); print $4}' "$work/wrk.out")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.out")
# (The GraphQL requests above are metered too, as api_calls: count sms only.)
stored=$(count "SELECT count(*) FROM usage_events WHERE metric = 'sms'")
period=$(count "SELECT total FROM usage_rollups WHERE metric = 'sms' AND granularity = 'PERIOD'")
hours=$(count "SELECT sum(total) FROM usage_rollups WHERE metric = 'sms' AND granularity = 'HOUR'")
rate=$(python3 -c "print(f'{$stored / $seconds:.0f}')")
echo "INGEST events_per_s=$rate requests=$requests (batches of 1000) p99=$p99 refused_or_partial=$refused stored=$stored period_rollup=$period hour_rollups=$hours"
[ "$stored" = "$period" ] && [ "$stored" = "$hours" ] || { echo "rollups disagree with the events"; exit 1; }

# Top up to $total events over the last 30 days, rollups alike (as the ingest would have).
rest=$((total - stored))
if [ "$rest" -gt 0 ]; then
  started=$(date +%s)
  psql "$owner_url" -q -v ON_ERROR_STOP=1 <<SQL
BEGIN;
CREATE TEMP TABLE bulk ON COMMIT DROP AS
  SELECT t.id AS tenant_id, 'bulk-' || g AS id, 'sms'::text AS metric, 1::bigint AS quantity,
         now() - (g % 2592000) * interval '1 second' AS occurred_at,
         (SELECT bucket_start FROM usage_rollups WHERE metric = 'sms' AND granularity = 'PERIOD') AS period_start
  FROM tenants t, generate_series(1, $rest) g;
INSERT INTO usage_events (tenant_id, id, metric, quantity, occurred_at, store_id, properties, period_start, recorded_at)
  SELECT tenant_id, id, metric, quantity, occurred_at, NULL, NULL, period_start, now() FROM bulk;
INSERT INTO usage_rollups (tenant_id, metric, granularity, bucket_start, total, events, maximum)
  SELECT tenant_id, metric, g, b, sum(quantity), count(*), max(quantity)
  FROM (SELECT tenant_id, metric, quantity, 'HOUR' AS g, date_trunc('hour', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS b FROM bulk
        UNION ALL
        SELECT tenant_id, metric, quantity, 'DAY', date_trunc('day', occurred_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' FROM bulk
        UNION ALL
        SELECT tenant_id, metric, quantity, 'PERIOD', period_start FROM bulk) x
  GROUP BY tenant_id, metric, g, b
ON CONFLICT (tenant_id, metric, granularity, bucket_start) DO UPDATE SET
  total = usage_rollups.total + excluded.total, events = usage_rollups.events + excluded.events,
  maximum = GREATEST(usage_rollups.maximum, excluded.maximum);
COMMIT;
ANALYZE usage_events;
ANALYZE usage_rollups;
SQL
  echo "loaded $rest events with SQL in $(( $(date +%s) - started )) s"
fi
stored=$(count "SELECT count(*) FROM usage_events WHERE metric = 'sms'")

# A fresh access token (the load may outlast the first one), and the report's query.
python3 - "$port" "$work" <<'PY'
import datetime, json, sys, urllib.request
port, work = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", headers={"Content-Type": "application/json"},
    data=json.dumps({"query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        "variables": {"i": {"email": "bench@duka.example", "password": "correct horse battery"}}}).encode())
open(f"{work}/owner", "w").write(json.load(urllib.request.urlopen(req))["data"]["login"]["accessToken"])
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
query = ('query($from: DateTime!, $to: DateTime!) { usage(metric: "sms", from: $from, to: $to, '
         'granularity: DAY) { total points { start value } } }')
body = {"query": query, "variables": {"from": (now - datetime.timedelta(days=31)).isoformat(),
                                      "to": (now + datetime.timedelta(days=1)).isoformat()}}
open(f"{work}/report.json", "w").write(json.dumps(body))
PY
answer=$(curl -s "http://127.0.0.1:$port/graphql" -H "Content-Type: application/json" \
  -H "Authorization: Bearer $(cat "$work/owner")" --data @"$work/report.json")
echo "$answer" | python3 -c "import json,sys; d=json.load(sys.stdin)['data']['usage']; print('usage(DAY): total', d['total'], 'over', len(d['points']), 'days')"
reported=$(echo "$answer" | python3 -c "import json,sys; print(json.load(sys.stdin)['data']['usage']['total'])")
[ "$reported" = "$stored" ] || { echo "usage(DAY) total $reported != $stored events stored"; exit 1; }
REPORT_BODY="$work/report.json" ACCESS_TOKEN="$(cat "$work/owner")" wrk -t1 -c1 -d10s --latency \
  -s bench/usage-report.lua "http://127.0.0.1:$port/graphql" >"$work/report-1.out" 2>&1
REPORT_BODY="$work/report.json" ACCESS_TOKEN="$(cat "$work/owner")" wrk -t2 -c16 -d10s --latency \
  -s bench/usage-report.lua "http://127.0.0.1:$port/graphql" >"$work/report-16.out" 2>&1
for c in 1 16; do
  f="$work/report-$c.out"
  echo "REPORT connections=$c events_stored=$stored req_per_s=$(awk '/Requests\/sec/ {print $2}' "$f") p50=$(awk '$1 == "50%" {print $2}' "$f") p99=$(awk '$1 == "99%" {print $2}' "$f")"
  grep -m3 "status" "$f" || true
done
