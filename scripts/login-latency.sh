#!/usr/bin/env bash
# Login latency, end to end over HTTP, embedded default, release build: one connection
# (the latency of one login) and two (both cores busy hashing).
# usage: scripts/login-latency.sh [seconds]   needs target/release/msingi, wrk, curl
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
port="${PORT:-18082}"
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
MSINGI_BIND="127.0.0.1:$port" MSINGI_DATA_DIR="$work" RUST_LOG=warn LOGIN_MAX_FAILURES=1000000 \
  target/release/msingi serve >"$work/log" 2>&1 &
pid=$!
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.05; done
curl -fs "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' \
  -d '{"query":"mutation { register(input: {email: \"login@example.com\", password: \"login bench password\", name: \"L\", tenantName: \"Login Bench\"}) { accessToken } }"}' >/dev/null
for c in 1 2; do
  echo "connections: $c"
  EMAIL=login@example.com PASSWORD="login bench password" \
    wrk -t1 -c"$c" -d"${seconds}s" --latency -s scripts/login.lua "http://127.0.0.1:$port/graphql" \
    | grep -E "Requests/sec|requests:|p50"
done
