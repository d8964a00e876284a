#!/usr/bin/env bash
# Creates the Secret the StatefulSet reads: a key pair per pod (node-0.key … node-N-1.key), the
# trust list of their public keys, a cluster key (every datagram sealed) and an admin token.
#   deploy/kubernetes/make-secret.sh BIN [REPLICAS] | kubectl apply -f -
# BIN is the chorus-cluster-health binary. Nothing is written outside a temporary directory.
set -euo pipefail
bin=${1:?usage: make-secret.sh BIN [REPLICAS]}
replicas=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
args=()
: > "$work/trust"
for i in $(seq 0 $((replicas - 1))); do
  "$bin" keygen --out "$work/k$i" >/dev/null
  echo "$(cat "$work/k$i/node.pub") chorus-$i" >> "$work/trust"
  args+=(--from-file="node-$i.key=$work/k$i/node.key")
done
"$bin" keygen --cluster-key "$work/cluster.key" >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/admin-token"
kubectl create secret generic chorus-keys "${args[@]}" \
  --from-file=trust="$work/trust" --from-file=cluster.key="$work/cluster.key" \
  --from-file=admin-token="$work/admin-token" --dry-run=client -o yaml
