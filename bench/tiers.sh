#!/usr/bin/env bash
# Isolation tiers on PostgreSQL:
#   1. `msingi tenants migrate` over N tenant schemas (default 1,000): the first run applies
#      the data plane's migration in each (one new migration per schema), the second finds
#      nothing to apply;
#   2. `msingi tenants move` of a tenant with M stock movements (default 1,000,000) from the
#      shared tables to its own schema: wall time, rows, and how long its writes were held;
#   3. `products(first: 20)` latency for that tenant on each tier (wrk, 16 connections, 10 s).
# usage: [N=1000] [M=1000000] bench/tiers.sh
# needs: target/release/msingi (BIN=path for another), PostgreSQL (PG_ADMIN_URL, a
#        superuser), psql, curl, wrk, python3
set -euo pipefail
cd "$(dirname "$0")/.."
n="${N:-1000}"
m="${M:-1000000}"
db=msingi_tiers_bench
port=8093
# shellcheck source=bench/pg-server.sh
. bench/pg-server.sh
export PLATFORM_DATABASE_URL="$owner_url"
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

"$bin" migrate >/dev/null
psql "$owner_url" -q -c "DO \$\$ BEGIN FOR i IN 1..$n LOOP EXECUTE format('CREATE SCHEMA tenant_%s', replace(gen_random_uuid()::text, '-', '')); END LOOP; END \$\$"
t=$(now); "$bin" tenants migrate >"$work/first.txt"; first=$(elapsed "$t")
t=$(now); "$bin" tenants migrate >"$work/second.txt"; second=$(elapsed "$t")
echo "tenants migrate, $n schemas, one migration each: ${first} s ($(cat "$work/first.txt"))"
echo "tenants migrate, $n schemas, nothing to apply:   ${second} s ($(cat "$work/second.txt"))"

# One tenant with an owner who logs in, one product, M movements in the shared tables.
start_server "admin create --email root@bench.example --password bench-password"
gql() {
  curl -sf "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
    ${2:+-H "Authorization: Bearer $2"} -d "$1"
}
reg='{"query":"mutation { register(input: { email: \"owner@bench.example\", password: \"bench password\", name: \"Owner\", tenantName: \"Bench Duka\" }) { accessToken activeTenant { id slug } } }"}'
out="$(gql "$reg")"
token="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')"
tenant="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["activeTenant"]["id"])')"
slug="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["activeTenant"]["slug"])')"
for i in $(seq 1 40); do
  gql "{\"query\":\"mutation { createProduct(input: { sku: \\\"SKU-$i\\\", name: \\\"Product $i\\\", price: \\\"100\\\" }) { id } }\"}" "$token" >/dev/null
done
psql "$owner_url" -q -v ON_ERROR_STOP=1 <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '$tenant', true);
INSERT INTO stock_movements (tenant_id, id, product_id, store_id, quantity, reason, created_at)
  -- a year of history, 30 s apart, with time-ordered ids as the application's UUIDv7 are
  SELECT '$tenant', (lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint - ($m - g)::bigint * 30000), 12, '0')
                     || '7' || substr(md5(g::text), 1, 19))::uuid,
         (SELECT id FROM products WHERE tenant_id = '$tenant' LIMIT 1),
         gen_random_uuid(), 1, 'history', now() - ($m - g) * interval '30 seconds'
  FROM generate_series(1, $m) g;
COMMIT;
SQL
body='{"query":"{ products(first: 20) { edges { node { id sku stock } } } }"}'
latency() {
  TOKEN="$token" BODY="$body" EXPECT='"products"' wrk -t2 -c16 -d10s -s bench/check.lua \
    "http://127.0.0.1:$port/graphql" | grep RESULT
}
echo "products(first: 20), SHARED: $(latency)"
t=$(now); moved="$("$bin" tenants move "$slug" --to schema)"; took=$(elapsed "$t")
echo "tenants move, $m movements, SHARED -> SCHEMA: ${took} s ($moved)"
echo "products(first: 20), SCHEMA: $(latency)"
