#!/usr/bin/env bash
# A renewal sweep over N due subscriptions on PostgreSQL, with two `msingi worker`
# processes (queue in PostgreSQL, or in Redis with QUEUE=redis):
#   N tenants, each with an owner and an ACTIVE starter subscription whose period ended a
#   minute ago, are written with SQL; then `msingi billing sweep` queues one renewal per
#   subscription and two workers run them. Reported: the sweep's own time, the wall time
#   from the sweep's start to the last invoice, invoices/s, the time until every owner's
#   email went out, and a check that each subscription got exactly one invoice.
#
# usage: [N=10000] [QUEUE=postgres|redis] bench/renewals.sh
# needs: target/release/msingi (BIN=path for another), PostgreSQL on $PG_ADMIN_URL (default
#        postgres://postgres@127.0.0.1:5432/postgres), Redis on $REDIS for QUEUE=redis, psql
set -euo pipefail
cd "$(dirname "$0")/.."
n="${N:-10000}"
queue="${QUEUE:-postgres}"
bin="${BIN:-target/release/msingi}"
admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${admin%/*}"
db=msingi_renewals_bench
owner_url="$base/$db"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

now() { date +%s.%N; }
count() { psql "$owner_url" -Atc "$1"; }
elapsed() { python3 -c "print(f'{$(now) - $1:.2f}')"; }

psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
psql "$admin" -qc "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'msingi_app') THEN CREATE ROLE msingi_app LOGIN; END IF; END \$\$"
export MSINGI_DATA_DIR="$work" RUST_LOG=warn MIGRATION_DATABASE_URL="$owner_url"
export DATABASE_URL="${base/\/\/postgres@/\/\/msingi_app@}/$db" MSINGI_JOBS_NAMESPACE="renewals-$$"
if [ "$queue" = redis ]; then export REDIS_URL="${REDIS:-redis://127.0.0.1:6379}"; else unset REDIS_URL; fi
"$bin" migrate >/dev/null

# N tenants, one owner each (the OWNER system role, tenant-wide), on starter, due.
psql "$owner_url" -q <<SQL
BEGIN;
CREATE TEMP TABLE t AS
  SELECT g, gen_random_uuid() AS tenant, gen_random_uuid() AS owner, gen_random_uuid() AS role,
         gen_random_uuid() AS sub
  FROM generate_series(1, $n) g;
INSERT INTO users (id, email, name, created_at, updated_at)
  SELECT owner, 'owner' || g || '@bench.example', 'Owner ' || g, now(), now() FROM t;
INSERT INTO tenants (id, slug, name, status, isolation, settings, created_at, updated_at)
  SELECT tenant, 'bench' || g, 'Bench ' || g, 'ACTIVE', 'SHARED', '{}', now(), now() FROM t;
INSERT INTO memberships (tenant_id, user_id, status, joined_at, created_at, updated_at)
  SELECT tenant, owner, 'ACTIVE', now(), now(), now() FROM t;
INSERT INTO roles (tenant_id, id, name, is_system, created_at, updated_at)
  SELECT tenant, role, 'OWNER', true, now(), now() FROM t;
INSERT INTO role_assignments (tenant_id, user_id, role_id, scope, created_at)
  SELECT tenant, owner, role, 'tenant', now() FROM t;
INSERT INTO subscriptions (tenant_id, id, plan_id, status, current_period_start,
    current_period_end, cancel_at_period_end, created_at, updated_at)
  SELECT tenant, sub, (SELECT id FROM plans WHERE code = 'starter' AND active),
         'ACTIVE', now() - interval '1 month 1 minute', now() - interval '1 minute', false,
         now(), now()
  FROM t;
COMMIT;
SQL

for i in 1 2; do
  "$bin" worker >>"$work/worker-$i.log" 2>&1 &
  pids+=($!)
done
sleep 1
start=$(now)
"$bin" billing sweep >"$work/sweep.out"
swept=$(elapsed "$start")
until [ "$(count 'SELECT count(*) FROM invoices')" -ge "$n" ]; do sleep 0.1; done
took=$(elapsed "$start")
rate=$(python3 -c "print(f'{$n / $took:.0f}')")
sent() { find "$work/outbox" -name '*.eml' 2>/dev/null | wc -l; }
until [ "$(sent)" -ge "$n" ]; do sleep 0.2; done
mailed=$(elapsed "$start")
sleep 2
twice=$(count "SELECT count(*) FROM (SELECT subscription_id FROM invoices GROUP BY 1 HAVING count(*) > 1) d")
total=$(count 'SELECT count(*) FROM invoices')
echo "RESULT queue=$queue subscriptions=$n sweep_s=$swept ($(cat "$work/sweep.out")) invoices=$total wall_s=$took invoices_per_s=$rate all_mailed_s=$mailed mails=$(sent) subscriptions_with_two_invoices=$twice"
