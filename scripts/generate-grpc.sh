#!/usr/bin/env bash
# Regenerates Sources/NodeGRPC/Generated/ from Protos/ (run by hand when a .proto changes; never
# by `make test`: the plugins take minutes to build). Needs protoc (Debian: protobuf-compiler)
# and builds the two plugins, at the versions Package.swift resolves, in a scratch directory.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${GRPC_PLUGIN_DIR:-/tmp/chorus-grpc-plugins}"
mkdir -p "$work"
build() {  # repository, version, product
    local name="${1##*/}"
    [ -d "$work/$name" ] || git clone -q --branch "$2" "https://github.com/$1.git" "$work/$name"
    (cd "$work/$name" && swift build -q --product "$3")
    echo "$work/$name/.build/debug/$3"
}
swift_plugin="$(build apple/swift-protobuf 1.39.0 protoc-gen-swift)"
grpc_plugin="$(build grpc/grpc-swift-protobuf 2.4.1 protoc-gen-grpc-swift-2)"
out=Sources/NodeGRPC/Generated
protoc --proto_path=Protos \
    --plugin=protoc-gen-swift="$swift_plugin" --swift_out="$out" --swift_opt=Visibility=Package \
    --plugin=protoc-gen-grpc-swift-2="$grpc_plugin" --grpc-swift-2_out="$out" \
    --grpc-swift-2_opt=Visibility=Package,Client=true,Server=true \
    grpc/health/v1/health.proto
echo "generated into $out"
