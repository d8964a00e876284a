#!/usr/bin/env bash
# /cluster/health latency (see BENCHMARKS.md): the merge + JSON for a 1000-node view of signed statuses,
# then wrk against a five-node demo on loopback, side by side in one run.
#   scripts/bench-cluster-view.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: bench-cluster-view.sh BIN_DIR}
dir=$(mktemp -d)
echo "== a 1000-node view of signed statuses (cluster-view-bench 1000 2000 18882 120), then wrk against it"
"$bin/cluster-view-bench" 1000 2000 18882 120 | tee "$dir/view.out" &
view=$!
for _ in $(seq 1 12000); do grep -q "serving the" "$dir/view.out" 2>/dev/null && break; sleep 0.1; done
sleep 3
# One connection, one request at a time: the latency of a request. Then 16 at once: throughput
# (wrk shares the 2 cores, so latency there is mostly queueing behind the answers).
run() {  # run LOAD PATH [HEADER]
  echo "== wrk $1 -d10s --latency ${3:+-H '$3' }http://127.0.0.1:18882$2 (1000-node view)"
  wrk $1 -d10s --latency ${3:+-H "$3"} "http://127.0.0.1:18882$2" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx|Transfer"
}
for load in "-t1 -c1" "-t2 -c16"; do
  run "$load" /cluster/health
  run "$load" /cluster/health "Accept-Encoding: gzip"
done
run "-t1 -c1" "/cluster/health?status=unhealthy,degraded"
run "-t1 -c1" "/cluster/health?summary"
run "-t1 -c1" "/cluster/health?verbose"
etag=$(curl -s -D - -o /dev/null http://127.0.0.1:18882/cluster/health | tr -d '\r' | sed -n 's/^etag: //Ip')
[ -n "$etag" ] && run "-t1 -c1" /cluster/health "If-None-Match: $etag"
echo "== bytes: plain $(curl -s http://127.0.0.1:18882/cluster/health | wc -c), gzip $(curl -s -H 'Accept-Encoding: gzip' http://127.0.0.1:18882/cluster/health | wc -c), unhealthy+degraded $(curl -s 'http://127.0.0.1:18882/cluster/health?status=unhealthy,degraded' | wc -c)"
kill $view 2>/dev/null || true
wait $view || true
port=18881
"$bin/chorus-cluster-health" demo --nodes 5 --http-port $port --gossip-port 18946 --dir "$dir" > "$dir/demo.out" 2>&1 &
demo=$!
trap 'kill -INT $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 300); do grep -q "healthy with one leader" "$dir/demo.out" && break; sleep 0.1; done
grep "healthy with one leader" "$dir/demo.out"
sleep 5
for path in /cluster/health "/cluster/health?verbose" /health/ready; do
  echo "== wrk -t2 -c16 -d10s --latency http://127.0.0.1:$port$path (five-node demo)"
  wrk -t2 -c16 -d10s --latency "http://127.0.0.1:$port$path" | grep -E "Requests/sec|Latency|50%|90%|99%|Non-2xx"
done
