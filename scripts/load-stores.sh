#!/usr/bin/env bash
# Load test: `stores(first: 20)` as an authenticated tenant user, 16 connections.
#
# usage: [ROUNDS=n] scripts/load-stores.sh sqlite|postgres [extra-tenants] [seconds]
#   sqlite     the embedded default (fresh data directory)
#   postgres   a fresh database `msingi_load` on $PG_ADMIN_URL (default
#              postgres://postgres@127.0.0.1:5432/postgres), served as the run-time role
#              msingi_app that owns nothing, so row-level security applies to every query
#   STORES=n (postgres only): the measured tenant's stores in all (default 25)
#   ROUNDS=n: interleaved rounds, each measuring the page with and without totalCount
#   extra-tenants (postgres only): seed this many other tenants (25 stores, a user and a
#              membership each) before measuring, to show latency does not grow with them
# needs: target/release/msingi (cargo build --release; BIN=path for another build), wrk, curl, python3
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:?sqlite or postgres}"
extra="${2:-0}"
seconds="${3:-20}"
bin="${BIN:-target/release/msingi}"
port="${PORT:-18081}"
work="$(mktemp -d)"
admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${admin%/*}"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

export MSINGI_BIND="127.0.0.1:$port" MSINGI_DATA_DIR="$work" RUST_LOG=warn
if [ "$kind" = postgres ]; then
  psql "$admin" -qc "DROP DATABASE IF EXISTS msingi_load WITH (FORCE)" -c "CREATE DATABASE msingi_load"
  psql "$admin" -qc "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'msingi_app') THEN CREATE ROLE msingi_app LOGIN; END IF; END \$\$"
  export MIGRATION_DATABASE_URL="$base/msingi_load"
  export DATABASE_URL="${base/\/\/postgres@/\/\/msingi_app@}/msingi_load"
  "$bin" migrate >/dev/null
fi

"$bin" serve >"$work/server.log" 2>&1 &
pid=$!
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.05; done

gql() { curl -fs "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' ${2:+-H "authorization: Bearer $2"} -d "$1"; }
register='{"query":"mutation { register(input: {email: \"load@example.com\", password: \"load test password\", name: \"Load\", tenantName: \"Load Test\"}) { accessToken activeTenant { id } } }"}'
answer="$(gql "$register")"
token="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["accessToken"])' <<<"$answer")"
for i in $(seq 1 24); do
  gql "{\"query\":\"mutation { createStore(input: {name: \\\"Store $i\\\", code: \\\"S$i\\\"}) { id } }\"}" "$token" >/dev/null
done

# STORES (postgres only): give the measured tenant this many stores in all (default 25).
if [ "$kind" = postgres ] && [ "${STORES:-25}" -gt 25 ]; then
  tenant="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["register"]["activeTenant"]["id"])' <<<"$answer")"
  psql "$MIGRATION_DATABASE_URL" -qc "INSERT INTO stores (tenant_id, id, name, code, status, created_at, updated_at)
    SELECT '$tenant', gen_random_uuid(), 'Bulk ' || g, 'B' || g, 'ACTIVE', now(), now()
    FROM generate_series(1, ${STORES} - 25) g; ANALYZE stores;"
fi

if [ "$kind" = postgres ] && [ "$extra" -gt 0 ]; then
  psql "$MIGRATION_DATABASE_URL" -q <<SQL
INSERT INTO tenants (id, slug, name, status, isolation, settings, created_at, updated_at)
  SELECT gen_random_uuid(), 'load-' || g, 'Load ' || g, 'ACTIVE', 'SHARED', '{}'::jsonb, now(), now()
  FROM generate_series(1, $extra) g;
INSERT INTO stores (tenant_id, id, name, code, status, created_at, updated_at)
  SELECT t.id, gen_random_uuid(), 'Store ' || s, 'S' || s, 'ACTIVE', now(), now()
  FROM tenants t CROSS JOIN generate_series(1, 25) s WHERE t.slug LIKE 'load-%';
INSERT INTO users (id, email, name, is_platform_admin, created_at, updated_at)
  SELECT gen_random_uuid(), 'user-' || t.slug || '@example.com', 'User', false, now(), now()
  FROM tenants t WHERE t.slug LIKE 'load-%';
INSERT INTO memberships (tenant_id, user_id, status, joined_at, created_at, updated_at)
  SELECT t.id, u.id, 'ACTIVE', now(), now(), now()
  FROM tenants t JOIN users u ON u.email = 'user-' || t.slug || '@example.com';
ANALYZE;
SQL
fi

check="$(gql '{"query":"{ stores(first: 20) { totalCount } }"}' "$token")"
echo "tenants: $((1 + extra)); this tenant's stores: $check"
# Interleaved rounds: the page with totalCount (a count and the page) and without it (the
# page alone: the count runs only when totalCount is selected).
for round in $(seq 1 "${ROUNDS:-1}"); do
  for selection in "totalCount edges { node { id name code status } }" "edges { node { id name code status } }"; do
    echo "round $round: stores(first: 20) { $selection }"
    SELECTION="$selection" TOKEN="$token" wrk -t2 -c16 -d"${seconds}s" --latency -s scripts/stores.lua "http://127.0.0.1:$port/graphql" \
      | grep -E "Requests/sec|requests:|p50|Latency  "
  done
done
