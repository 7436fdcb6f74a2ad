#!/usr/bin/env bash
# The hot path against its peers, in one interleaved run on one fixture:
#   pgbench  the RLS unit of work alone (BEGIN; set_config; SELECT 20 stores; COMMIT)
#   PostGraphile v4 on Node 22 (both from the npm registry, into bench/postgraphile/node_modules)
#   Msingi   stores(first: 20) { edges { node { id name code status } } }
# All three read as the run-time role msingi_app (owns nothing, RLS FORCEd) the first 20
# stores of one tenant; every HTTP answer is checked. All three reach PostgreSQL the same way,
# plain TCP on loopback (sslmode=disable: PostGraphile's driver asks for no TLS by default,
# libpq and sqlx would otherwise negotiate it). 16 connections, ROUNDS rounds of
# SECONDS each, medians and ratios at the end, with the CPU per request of the server and
# of PostgreSQL (bench/cpu.py).
#
# usage: [TENANTS=100] [STORES=1000] [ROUNDS=3] [SECONDS_PER_ROUND=20] [PERF=prefix] bench/compare.sh
# needs: target/release/msingi (cargo build --release; BIN=path for another), PostgreSQL
#        on $PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres), wrk,
#        pgbench, curl, python3, and npm (with any node) to fetch Node 22 and PostGraphile
set -euo pipefail
cd "$(dirname "$0")/.."
tenants="${TENANTS:-100}" stores="${STORES:-1000}" rounds="${ROUNDS:-3}" seconds="${SECONDS_PER_ROUND:-20}"
bin="${BIN:-target/release/msingi}"
admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${admin%/*}"
owner_url="$base/msingi_compare"
app_url="${base/\/\/postgres@/\/\/msingi_app@}/msingi_compare?sslmode=disable"
msingi_port=18091 pgl_port=18092
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

echo "fixture: $tenants tenants, $stores stores in the measured one"
psql "$admin" -qc "DROP DATABASE IF EXISTS msingi_compare WITH (FORCE)" -c "CREATE DATABASE msingi_compare"
psql "$admin" -qc "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'msingi_app') THEN CREATE ROLE msingi_app LOGIN; END IF; END \$\$"
export MSINGI_DATA_DIR="$work" RUST_LOG=warn MIGRATION_DATABASE_URL="$owner_url" DATABASE_URL="$app_url"
"$bin" migrate >/dev/null
MSINGI_BIND="127.0.0.1:$msingi_port" "$bin" serve >"$work/msingi.log" 2>&1 &
pids+=($!)
msingi_pid=$!
until curl -fs "http://127.0.0.1:$msingi_port/readyz" >/dev/null 2>&1; do sleep 0.05; done
register='{"query":"mutation { register(input: {email: \"bench@example.com\", password: \"bench password 1\", name: \"Bench\", tenantName: \"Bench\"}) { accessToken activeTenant { id } } }"}'
answer="$(curl -fs "http://127.0.0.1:$msingi_port/graphql" -H 'content-type: application/json' -d "$register")"
read -r token tenant < <(python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]["register"]; print(d["accessToken"], d["activeTenant"]["id"])' <<<"$answer")
psql "$owner_url" -q <<SQL
INSERT INTO stores (tenant_id, id, name, code, status, created_at, updated_at)
  SELECT '$tenant', gen_random_uuid(), 'Store ' || g, 'S' || g, 'ACTIVE', now(), now()
  FROM generate_series(2, $stores) g;
INSERT INTO tenants (id, slug, name, status, isolation, settings, created_at, updated_at)
  SELECT gen_random_uuid(), 'other-' || g, 'Other ' || g, 'ACTIVE', 'SHARED', '{}'::jsonb, now(), now()
  FROM generate_series(2, $tenants) g;
INSERT INTO stores (tenant_id, id, name, code, status, created_at, updated_at)
  SELECT t.id, gen_random_uuid(), 'Store ' || s, 'S' || s, 'ACTIVE', now(), now()
  FROM tenants t CROSS JOIN generate_series(1, $stores) s WHERE t.slug LIKE 'other-%';
ANALYZE;
SQL

# PostGraphile, as the same role, with its own HS256 token naming the same tenant.
if [ ! -x bench/postgraphile/node_modules/.bin/node ]; then
  (cd bench/postgraphile && npm install --no-audit --no-fund --silent)
fi
node22="$PWD/bench/postgraphile/node_modules/.bin/node"
echo "PostGraphile $("$node22" -p 'require("./bench/postgraphile/node_modules/postgraphile/package.json").version') on Node $("$node22" --version)"
secret="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
pgl_token="$(cd bench/postgraphile && TID="$tenant" SECRET="$secret" "$node22" -e \
  'console.log(require("jsonwebtoken").sign({ tid: process.env.TID }, process.env.SECRET, { algorithm: "HS256", expiresIn: "1h" }))')"
NODE_ENV=production PGL_DATABASE_URL="$app_url" PGL_JWT_SECRET="$secret" PGL_PORT="$pgl_port" "$node22" bench/postgraphile/server.js >"$work/pgl.log" 2>&1 &
pids+=($!)
pgl_pid=$!
until curl -fs "http://127.0.0.1:$pgl_port/graphql" -H 'content-type: application/json' -H "authorization: Bearer $pgl_token" \
  -d '{"query":"{ __typename }"}' >/dev/null 2>&1; do sleep 0.1; done

cat >"$work/rls.sql" <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '$tenant', true);
SELECT id, name, code, status FROM stores ORDER BY tenant_id, id LIMIT 20;
COMMIT;
SQL
msingi_body='{"query":"{ stores(first: 20) { edges { node { id name code status } } } }"}'
pgl_body='{"query":"{ allStores(first: 20, orderBy: PRIMARY_KEY_ASC) { nodes { id name code status } } }"}'
# The answers hold 20 of the tenant's stores, and only its own.
for check in "$msingi_port|$token|$msingi_body|edges" "$pgl_port|$pgl_token|$pgl_body|nodes"; do
  IFS='|' read -r port tok body key <<<"$check"
  curl -fs "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -H "authorization: Bearer $tok" -d "$body" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin)["data"]; items=list(d.values())[0][sys.argv[1]]; assert len(items)==20, d; print("checked: 20 stores from port", sys.argv[2])' "$key" "$port"
done

results="$work/results"
# Warm both servers (JIT, caches, pools) before anything is measured.
for warm in "$pgl_port|$pgl_token|$pgl_body|\"nodes\"" "$msingi_port|$token|$msingi_body|\"edges\""; do
  IFS='|' read -r port tok body expect <<<"$warm"
  TOKEN="$tok" BODY="$body" EXPECT="$expect" wrk -t2 -c16 -d5s -s bench/check.lua "http://127.0.0.1:$port/graphql" >/dev/null
done
# CPU per request: the server's and PostgreSQL's CPU time over the round (bench/cpu.py),
# divided by the requests answered.
cpu_fields() { # pid before-file requests
  read -r s0 p0 <"$2"
  read -r s1 p1 < <(bench/cpu.py "$1")
  python3 -c 'import sys; s0,p0,s1,p1,n=map(float,sys.argv[1:]); print(f"server_us={(s1-s0)/n:.0f} pg_us={(p1-p0)/n:.0f}")' "$s0" "$p0" "$s1" "$p1" "$3"
}
wrk_round() { # name port token body expect pid
  bench/cpu.py "$6" >"$work/cpu0"
  line="$(TOKEN="$3" BODY="$4" EXPECT="$5" wrk -t2 -c16 -d"${seconds}s" -s bench/check.lua "http://127.0.0.1:$2/graphql" \
    | sed -n "s/^RESULT /$1 /p")"
  requests="$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")"
  echo "$line $(cpu_fields "$6" "$work/cpu0" "$requests")" | tee -a "$results"
}
for round in $(seq 1 "$rounds"); do
  echo "round $round"
  bench/cpu.py 0 >"$work/cpu0"
  line="$(pgbench -n -c16 -j2 -T"$seconds" -f "$work/rls.sql" "$app_url" 2>/dev/null \
    | python3 -c 'import re,sys; t=sys.stdin.read(); tps=re.search(r"tps = ([0-9.]+)",t).group(1); lat=re.search(r"latency average = ([0-9.]+)",t).group(1); n=re.search(r"actually processed: ([0-9]+)",t).group(1); print(f"pgbench rps={tps} avg_ms={lat} p99=- requests={n} failed=0")')"
  requests="$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")"
  echo "$line $(cpu_fields 0 "$work/cpu0" "$requests")" | tee -a "$results"
  wrk_round postgraphile "$pgl_port" "$pgl_token" "$pgl_body" '"nodes"' "$pgl_pid"
  wrk_round msingi "$msingi_port" "$token" "$msingi_body" '"edges"' "$msingi_pid"
done

# PERF=<prefix>: after the rounds, a 10 s profile of the whole machine under Msingi's load
# (perf record -a -g), reported by process and symbol into <prefix>.txt.
if [ -n "${PERF:-}" ]; then
  perf record -q -a -g -F 499 -o "$PERF.data" -- sleep 10 2>/dev/null &
  perf_pid=$!
  TOKEN="$token" BODY="$msingi_body" EXPECT='"edges"' wrk -t2 -c16 -d10s -s bench/check.lua \
    "http://127.0.0.1:$msingi_port/graphql" >/dev/null
  wait "$perf_pid" || true
  perf report -i "$PERF.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9]' | sed 's/  */ /g' | head -150 >"$PERF.txt" || true
  echo "profile: $PERF.txt"
fi

python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *fields = line.split()
    kv = dict(f.split("=") for f in fields)
    rows.setdefault(name, []).append(kv)
med = {}
print("\nsystem         req/s (median)   p99 ms (median)   CPU µs/request: server + PostgreSQL (median)   failed")
for name, runs in rows.items():
    rps = statistics.median(float(r["rps"]) for r in runs)
    p99s = [float(r["p99"]) for r in runs if r["p99"] != "-"]
    p99 = f"{statistics.median(p99s):.1f}" if p99s else "-"
    server = statistics.median(float(r["server_us"]) for r in runs)
    pg = statistics.median(float(r["pg_us"]) for r in runs)
    failed = sum(int(r["failed"]) for r in runs)
    med[name] = (rps, server + pg)
    print(f"{name:<14} {rps:>14.0f}   {p99:>15}   {server + pg:>8.0f} ({server:.0f} + {pg:.0f}){'':>20}{failed}")
if "postgraphile" in med and "msingi" in med:
    print(f"\nmsingi / postgraphile: {med['msingi'][0] / med['postgraphile'][0]:.2f}x req/s, "
          f"{med['msingi'][1] / med['postgraphile'][1]:.2f}x CPU per request")
PY
