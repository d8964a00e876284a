#!/usr/bin/env bash
# Prints the Secret the StatefulSet reads: a key pair per pod (node-0.key … node-N-1.key), the
# trust list of their public keys, a cluster key (every datagram sealed) and an admin token.
#   deploy/kubernetes/make-secret.sh BIN [REPLICAS] | kubectl apply -f -
# BIN is the chorus-cluster-health binary. Nothing is written outside a temporary directory, and
# nothing but the binary, coreutils and base64 is needed (no kubectl to make it).
set -euo pipefail
bin=${1:?usage: make-secret.sh BIN [REPLICAS]}
replicas=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
: > "$work/trust"
for i in $(seq 0 $((replicas - 1))); do
  "$bin" keygen --out "$work/k$i" >/dev/null
  echo "$(cat "$work/k$i/node.pub") chorus-$i" >> "$work/trust"
  cp "$work/k$i/node.key" "$work/node-$i.key"
done
"$bin" keygen --cluster-key "$work/cluster.key" >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/admin-token"
cat <<YAML
apiVersion: v1
kind: Secret
metadata:
  name: chorus-keys
  labels: { app: chorus-cluster-health }
type: Opaque
data:
YAML
for file in $(seq -f "node-%g.key" 0 $((replicas - 1))) trust cluster.key admin-token; do
  echo "  $file: $(base64 -w0 < "$work/$file")"
done
