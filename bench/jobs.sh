#!/usr/bin/env bash
# Jobs end to end, on PostgreSQL with the queue in PostgreSQL and then in Redis:
#   throughput  N emails written to the outbox at once, then one `msingi worker`: outbox →
#               queue → handler (mail written to a file) → recorded in the effects ledger;
#               jobs/s from the worker's start to the last ledger row.
#   reclaim     N more, a worker SIGKILLed after a quarter of them, a second started at once:
#               the time from the kill to the last job recorded (the dead worker's jobs wait
#               out JOBS_LEASE_SECS), and how many mails went out twice (SMTP's window).
#
# usage: [JOBS=2000] [JOBS_LEASE_SECS=15] bench/jobs.sh
# needs: target/release/msingi (BIN=path for another), PostgreSQL on $PG_ADMIN_URL (default
#        postgres://postgres@127.0.0.1:5432/postgres), Redis on $REDIS (default
#        redis://127.0.0.1:6379), psql, curl
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-2000}"
bin="${BIN:-target/release/msingi}"
admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
redis="${REDIS:-redis://127.0.0.1:6379}"
base="${admin%/*}"
owner_url="$base/msingi_jobs_bench"
export JOBS_LEASE_SECS="${JOBS_LEASE_SECS:-15}"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT

now() { date +%s.%N; }
recorded() { psql "$owner_url" -Atc "SELECT count(*) FROM job_effects"; }
enqueue() { # how many
  psql "$owner_url" -qc "INSERT INTO outbox (tenant_id, job, queue, payload, created_at, attempts)
    SELECT NULL, 'send_email', 'emails', jsonb_build_object('message_id', gen_random_uuid(),
      'tenant_id', NULL, 'to', 'bench' || g || '@example.com', 'subject', 'Bench ' || g,
      'text', 'Karibu', 'html', '<p>Karibu</p>'), now(), 0
    FROM generate_series(1, $1) g"
}
wait_recorded() { # count
  until [ "$(recorded)" -ge "$1" ]; do sleep 0.05; done
}
start_worker() {
  "$bin" worker >>"$work/worker.log" 2>&1 &
  pids+=($!)
  worker=$!
}

for queue in postgres redis; do
  psql "$admin" -qc "DROP DATABASE IF EXISTS msingi_jobs_bench WITH (FORCE)" -c "CREATE DATABASE msingi_jobs_bench"
  psql "$admin" -qc "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'msingi_app') THEN CREATE ROLE msingi_app LOGIN; END IF; END \$\$"
  export MSINGI_DATA_DIR="$work/$queue" RUST_LOG=warn MIGRATION_DATABASE_URL="$owner_url"
  export DATABASE_URL="${base/\/\/postgres@/\/\/msingi_app@}/msingi_jobs_bench" MSINGI_JOBS_NAMESPACE="bench-$$-$queue"
  if [ "$queue" = redis ]; then export REDIS_URL="$redis"; else unset REDIS_URL; fi
  "$bin" migrate >/dev/null

  enqueue "$jobs"
  start=$(now)
  start_worker
  wait_recorded "$jobs"
  took=$(python3 -c "print(f'{$(now) - $start:.2f}')")
  rate=$(python3 -c "print(f'{$jobs / $took:.0f}')")
  kill "$worker"; wait "$worker" 2>/dev/null || true
  echo "RESULT $queue throughput jobs=$jobs seconds=$took jobs_per_s=$rate"

  enqueue "$jobs"
  start_worker
  wait_recorded $((jobs + jobs / 4))
  kill -9 "$worker"; wait "$worker" 2>/dev/null || true
  killed=$(now)
  start_worker
  wait_recorded $((2 * jobs))
  resumed=$(python3 -c "print(f'{$(now) - $killed:.2f}')")
  sent=$(find "$MSINGI_DATA_DIR/outbox" -name '*.eml' | wc -l)
  kill "$worker"; wait "$worker" 2>/dev/null || true
  echo "RESULT $queue reclaim lease_s=$JOBS_LEASE_SECS kill_to_all_recorded_s=$resumed mails=$sent jobs=$((2 * jobs)) repeats=$((sent - 2 * jobs))"
done
