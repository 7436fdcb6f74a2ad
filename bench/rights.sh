#!/usr/bin/env bash
# Data rights on PostgreSQL: `msingi tenants export` of a tenant with M stock movements
# (default 1,000,000) and `msingi tenants import` of its archive into another database
# (PostgreSQL), then into the embedded default (SQLite): wall time and rows/s of each,
# and the archive's size.
# usage: [M=1000000] bench/rights.sh
# needs: target/release/msingi (BIN=path for another), PostgreSQL (PG_ADMIN_URL, a
#        superuser), psql, curl, python3
set -euo pipefail
cd "$(dirname "$0")/.."
m="${M:-1000000}"
db=msingi_rights_bench
port=8094
# shellcheck source=bench/pg-server.sh
. bench/pg-server.sh
export PLATFORM_DATABASE_URL="$owner_url"
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

start_server
gql() {
  curl -sf "http://127.0.0.1:$port/graphql" -H 'Content-Type: application/json' \
    ${2:+-H "Authorization: Bearer $2"} -d "$1"
}
reg='{"query":"mutation { register(input: { email: \"owner@bench.example\", password: \"bench password\", name: \"Owner\", tenantName: \"Rights Duka\" }) { accessToken activeTenant { id slug } } }"}'
out="$(gql "$reg")"
token="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])')"
tenant="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["activeTenant"]["id"])')"
slug="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["activeTenant"]["slug"])')"
for i in $(seq 1 20); do
  gql "{\"query\":\"mutation { createProduct(input: { sku: \\\"SKU-$i\\\", name: \\\"Product $i\\\", price: \\\"100\\\" }) { id } }\"}" "$token" >/dev/null
done
store="$(psql "$owner_url" -Atc "SELECT id FROM stores WHERE tenant_id = '$tenant' LIMIT 1")"
psql "$owner_url" -q -v ON_ERROR_STOP=1 <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '$tenant', true);
INSERT INTO stock_movements (tenant_id, id, product_id, store_id, quantity, reason, created_at)
  SELECT '$tenant', (lpad(to_hex((extract(epoch FROM now()) * 1000)::bigint - ($m - g)::bigint * 30000), 12, '0')
                     || '7' || substr(md5(g::text), 1, 19))::uuid,
         (SELECT id FROM products WHERE tenant_id = '$tenant' LIMIT 1),
         '$store', 1, 'history', now() - ($m - g) * interval '30 seconds'
  FROM generate_series(1, $m) g;
COMMIT;
SQL

archive="$work/rights.tar.gz"
t=$(now); said="$("$bin" tenants export "$slug" -o "$archive")"; took=$(elapsed "$t")
echo "tenants export, $m movements: ${took} s, $(du -m "$archive" | cut -f1) MB ($said)"

# Another PostgreSQL deployment.
other=msingi_rights_bench_b
psql "$admin" -qc "DROP DATABASE IF EXISTS $other WITH (FORCE)" -c "CREATE DATABASE $other"
(
  export MIGRATION_DATABASE_URL="$base/$other" PLATFORM_DATABASE_URL="$base/$other"
  export DATABASE_URL="${base/\/\/postgres@/\/\/msingi_app@}/$other?sslmode=disable"
  "$bin" migrate >/dev/null
  t=$(now); said="$("$bin" tenants import "$archive" | tail -1)"; took=$(elapsed "$t")
  echo "tenants import into PostgreSQL: ${took} s ($said)"
)
# The embedded default (SQLite).
(
  sqlite="sqlite://$work/imported.db?mode=rwc"
  export DATABASE_URL="$sqlite" MIGRATION_DATABASE_URL="$sqlite" PLATFORM_DATABASE_URL="$sqlite"
  "$bin" migrate >/dev/null
  t=$(now); said="$("$bin" tenants import "$archive" | tail -1)"; took=$(elapsed "$t")
  echo "tenants import into SQLite: ${took} s ($said)"
)
psql "$admin" -qc "DROP DATABASE IF EXISTS $other WITH (FORCE)"
