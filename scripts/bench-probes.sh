#!/usr/bin/env bash
# Probe latency and idle memory, side by side in one run (see BENCHMARKS.md).
#   scripts/bench-probes.sh RELEASE_BIN_DIR
# Starts probe-bench-server with 20 checks (0 busy, then 10 busy: each burns ~20 ms CPU per
# second), runs wrk -t2 -c64 -d10s --latency against /health/ready and /health, and reads the
# RSS of idle nodes. Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
bin=${1:?usage: bench-probes.sh RELEASE_BIN_DIR}
port=18181
duration=${DURATION:-10s}
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not become ready" >&2; return 1
}

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo | sed 's/^ *//'), $(uname -sr)"
echo "wrk -t2 -c64 -d$duration --latency, 20 registered checks (interval 1 s)"
printf '%-8s %-14s %10s %9s %9s %9s\n' busy endpoint "req/s" p50 p90 p99
for busy in 0 10; do
  "$bin/probe-bench-server" "$port" 20 "$busy" & server_pid=$!
  wait_ready "$port"
  sleep 2
  for path in /health/ready /health; do
    out=$(wrk -t2 -c64 -d"$duration" --latency "http://127.0.0.1:$port$path")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p90=$(awk '$1=="90%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
    printf '%-8s %-14s %10s %9s %9s %9s %s\n' "$busy" "$path" "$rps" "$p50" "$p90" "$p99" "$errors"
  done
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  port=$((port + 1))
done

echo "idle RSS after 5 s (no requests):"
"$bin/probe-bench-server" "$port" 20 0 & server_pid=$!
wait_ready "$port"; sleep 5
echo "  probe-bench-server, 20 checks: $(rss_mib "$server_pid") MiB"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
port=$((port + 1))
"$bin/chorus-cluster-health" node --http-host 127.0.0.1 --http-port "$port" --log-level warning & server_pid=$!
wait_ready "$port"; sleep 5
echo "  chorus-cluster-health node (disk + memory checks): $(rss_mib "$server_pid") MiB"
