#!/usr/bin/env bash
# The event history's costs, side by side in one run (see BENCHMARKS.md).
#   scripts/bench-history.sh RELEASE_BIN_DIR
# 1. A store filled with 1 000 000 events: write rate and bytes on disk per event.
# 2. /cluster/events?limit=100 (newest page, one node's page, a page deep in the cursor) with wrk.
# 3. Probe latency (/health/ready, wrk -t2 -c64) while 2000 events/s are recorded, and without
#    a history, alternating, ROUNDS times.
set -euo pipefail
bin=${1:?usage: bench-history.sh RELEASE_BIN_DIR}
events=${EVENTS:-1000000}
rounds=${ROUNDS:-2}
rate=${RATE:-2000}
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -sr)"
"$bin/history-bench" fill "$dir/history.sqlite" "$events"

"$bin/history-bench" serve "$dir/history.sqlite" 18884 100 & pid=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:18884/cluster/events?limit=1" >/dev/null 2>&1 && break; sleep 0.1; done
cursor=$(curl -fs "http://127.0.0.1:18884/cluster/events?limit=1000" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
for path in "/cluster/events?limit=100" "/cluster/events?node=n7&limit=100" "/cluster/events?kind=check&limit=100" "/cluster/events?limit=100&cursor=$cursor"; do
  for load in "-t1 -c1" "-t2 -c16"; do
    echo "== wrk $load -d10s --latency 'http://127.0.0.1:18884$path' ($events events)"
    wrk $load -d10s --latency "http://127.0.0.1:18884$path" | grep -E "Requests/sec|50%|90%|99%|Non-2xx"
  done
done
kill $pid; wait $pid 2>/dev/null || true; pid=""

for round in $(seq 1 "$rounds"); do
  for r in "$rate" 0; do
    "$bin/history-bench" probes 18885 14 "$r" > "$dir/probes.out" & pid=$!
    for _ in $(seq 1 100); do curl -fs http://127.0.0.1:18885/health/ready >/dev/null 2>&1 && break; sleep 0.1; done
    sleep 2
    echo "== round $round, recording $r events/s: wrk -t2 -c64 -d10s --latency /health/ready"
    wrk -t2 -c64 -d10s --latency http://127.0.0.1:18885/health/ready | grep -E "Requests/sec|50%|90%|99%|Non-2xx"
    wait $pid || true; pid=""
    grep -E "recorded" "$dir/probes.out" || true
  done
done
