#!/usr/bin/env bash
# Probe latency and idle memory, side by side in one run (see BENCHMARKS.md).
#   scripts/bench-probes.sh RELEASE_BIN_DIR
# probe-bench-server with 20 registered checks (interval 1 s) in two configurations: all 20
# return at once ("busy 0"), or 10 of them burn ~20 ms of CPU per run ("busy 10"). Rounds
# alternate the configurations; each round runs wrk -t2 -c64 -d$DURATION --latency against
# /health/ready and /health. Prints every round, then medians and the busy/idle ratio, then
# the RSS of idle nodes. Everything listens on 127.0.0.1 and stops by itself.
set -euo pipefail
bin=${1:?usage: bench-probes.sh RELEASE_BIN_DIR}
duration=${DURATION:-10s}
rounds=${ROUNDS:-3}
port=18181
server_pid=""
results=$(mktemp)
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; rm -f "$results"; }
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not become ready" >&2; return 1
}

# wrk prints latencies as 1.23ms, 850.00us or 1.02s: convert to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$1"; }

rss_mib() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
echo "wrk -t2 -c64 -d$duration --latency, 20 registered checks (interval 1 s), $rounds rounds"
printf '%-6s %-5s %-14s %10s %8s %8s %8s\n' round busy endpoint "req/s" p50ms p90ms p99ms
for round in $(seq 1 "$rounds"); do
  for busy in 0 10; do
    "$bin/probe-bench-server" "$port" 20 "$busy" & server_pid=$!
    wait_ready "$port"
    sleep 2
    for path in /health/ready /health; do
      out=$(wrk -t2 -c64 -d"$duration" --latency "http://127.0.0.1:$port$path")
      if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then grep -E 'Non-2xx|Socket errors' <<<"$out" >&2; fi
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      p50=$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")
      p90=$(to_ms "$(awk '$1=="90%" {print $2}' <<<"$out")")
      p99=$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")
      printf '%-6s %-5s %-14s %10s %8s %8s %8s\n' "$round" "$busy" "$path" "$rps" "$p50" "$p90" "$p99"
      echo "$busy $path $rps $p50 $p90 $p99" >>"$results"
    done
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
    port=$((port + 1))
  done
done

echo "medians over $rounds rounds:"
printf '%-5s %-14s %10s %8s %8s %8s\n' busy endpoint "req/s" p50ms p90ms p99ms
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f", (a[NR/2]+a[NR/2+1])/2}'; }
for busy in 0 10; do
  for path in /health/ready /health; do
    row=$(awk -v b="$busy" -v p="$path" '$1==b && $2==p' "$results")
    printf '%-5s %-14s %10s %8s %8s %8s\n' "$busy" "$path" \
      "$(awk '{print $3}' <<<"$row" | median)" "$(awk '{print $4}' <<<"$row" | median)" \
      "$(awk '{print $5}' <<<"$row" | median)" "$(awk '{print $6}' <<<"$row" | median)"
  done
done
for path in /health/ready /health; do
  idle=$(awk -v p="$path" '$1==0 && $2==p {print $6}' "$results" | median)
  busy=$(awk -v p="$path" '$1==10 && $2==p {print $6}' "$results" | median)
  echo "p99 ratio busy/idle on $path: $(awk -v a="$busy" -v b="$idle" 'BEGIN {printf "%.2f", a/b}')"
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
