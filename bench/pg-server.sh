# Sourced by the PostgreSQL benchmarks (callbacks.sh, settlements.sh, usage.sh): a fresh
# database `$db`, the run-time role msingi_app (owns nothing; RLS binds it), a work
# directory, and `start_server`, which migrates and starts `msingi serve` on `$port`
# without workers. The caller sets db and port first, and any extra settings before
# start_server; everything started is stopped on exit.
# needs: bin (default target/release/msingi), PG_ADMIN_URL (default
#        postgres://postgres@127.0.0.1:5432/postgres, a superuser), psql, curl
bin="${BIN:-target/release/msingi}"
admin="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
base="${admin%/*}"
owner_url="$base/$db"
work="$(mktemp -d)"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 1; rm -rf "$work"' EXIT

psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
psql "$admin" -qc "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'msingi_app') THEN CREATE ROLE msingi_app LOGIN; END IF; END \$\$"
export MSINGI_DATA_DIR="$work" RUST_LOG=warn MIGRATION_DATABASE_URL="$owner_url"
export DATABASE_URL="${base/\/\/postgres@/\/\/msingi_app@}/$db?sslmode=disable"
export MSINGI_BIND="127.0.0.1:$port" PUBLIC_URL="http://127.0.0.1:$port"
export MSINGI_IN_PROCESS_WORKERS=false

# Migrates, runs any `msingi` commands given (e.g. "admin create …"), and serves.
start_server() {
  "$bin" migrate >/dev/null
  for command in "$@"; do
    # shellcheck disable=SC2086
    "$bin" $command >/dev/null
  done
  "$bin" serve >>"$work/serve.log" 2>&1 &
  pids+=($!)
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do sleep 0.2; done
}

count() { psql "$owner_url" -Atc "$1"; }
