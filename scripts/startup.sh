#!/usr/bin/env bash
# Start-up time (exec → /readyz answers 200) and idle memory (RSS after 5 s idle) of the
# embedded default, on a fresh data directory and again on an existing one.
# usage: scripts/startup.sh [path/to/msingi]   (default: target/release/msingi)
set -euo pipefail
bin="$(realpath "${1:-target/release/msingi}")"
port="${PORT:-18080}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

measure() {
  local label="$1"
  local start end
  start=$(date +%s%N)
  (cd "$work" && MSINGI_BIND="127.0.0.1:$port" RUST_LOG=warn exec "$bin" serve >"$work/log" 2>&1) &
  pid=$!
  until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.005; done
  end=$(date +%s%N)
  sleep 5
  local rss
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  printf '%-28s start-up %6.0f ms   idle RSS %s KiB\n' "$label" "$(( (end - start) / 1000 ))e-3" "$rss"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  while curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do sleep 0.05; done
}

measure "fresh data dir (migrates)"
measure "existing data dir"
