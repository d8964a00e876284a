#!/usr/bin/env bash
# A local cluster of three nodes on loopback with fresh keys that trust each other.
#   scripts/demo.sh BIN [HTTP_BASE_PORT]
# Keys, trust list and data live under .demo/; Ctrl-C stops every node (each leaves gracefully).
set -euo pipefail
bin=${1:?usage: demo.sh BIN [HTTP_BASE_PORT]}
base=${2:-8081}
gossip_base=7946
nodes=3
dir=.demo
mkdir -p "$dir"
for i in $(seq 1 $nodes); do
  [ -f "$dir/keys$i/node.key" ] || "$bin" keygen --out "$dir/keys$i" >/dev/null
done
cat "$dir"/keys*/node.pub > "$dir/trust"

pids=()
stop() {
  trap - INT TERM
  echo ""
  echo "stopping the demo cluster..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  exit 0
}
trap stop INT TERM

for i in $(seq 1 $nodes); do
  args=(node --node-id "demo-node-$i" --http-host 127.0.0.1 --http-port $((base + i - 1))
        --gossip-host 127.0.0.1 --gossip-port $((gossip_base + i - 1)) --disk-path .
        --key-file "$dir/keys$i/node.key" --data-dir "$dir/data$i" --trust "$dir/trust")
  [ "$i" -gt 1 ] && args+=(--join "127.0.0.1:$gossip_base")
  "$bin" "${args[@]}" 2>>"$dir/node$i.log" &
  pids+=($!)
done

# Wait until every node lists all three as alive.
for _ in $(seq 1 100); do
  ok=1
  for i in $(seq 1 $nodes); do
    alive=$(curl -s "http://127.0.0.1:$((base + i - 1))/cluster/members" 2>/dev/null \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["alive"])' 2>/dev/null || echo 0)
    [ "$alive" = "$nodes" ] || ok=0
  done
  [ $ok = 1 ] && break
  sleep 0.1
done

echo ""
echo "chorus-cluster-health demo: $nodes nodes on 127.0.0.1 (logs in $dir/node*.log; Ctrl-C stops them)"
for i in $(seq 1 $nodes); do
  port=$((base + i - 1))
  echo "  demo-node-$i  http://127.0.0.1:$port/health   gossip 127.0.0.1:$((gossip_base + i - 1))"
done
echo "  members    http://127.0.0.1:$base/cluster/members"
echo "  a status   http://127.0.0.1:$base/cluster/nodes/demo-node-2/status  (verify: | python3 scripts/verify_status.py)"
echo "  metrics    http://127.0.0.1:$base/metrics"
echo "  try:       curl -s http://127.0.0.1:$base/cluster/members | python3 -m json.tool"
echo ""
wait "${pids[@]}"
