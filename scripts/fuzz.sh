#!/usr/bin/env bash
# Builds the libFuzzer target over the datagram path (Tests/Fuzz/GossipFuzz.swift) and runs it.
#
#   scripts/fuzz.sh [RUNS]     (default 1000000 inputs; `make fuzz`, and `make test` runs it)
#   scripts/fuzz.sh build      (only build the target, when its sources changed)
#
# The GossipCore target (codec, envelopes, signed payloads, the protocol core; it depends on
# libsodium only) is compiled here with swiftc and -sanitize=fuzzer,address, without SwiftPM,
# so this takes well under a minute instead of a whole sanitized build of the package's
# dependencies. Output goes to .build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
RUNS="${1:-1000000}"
SANITIZERS="${SANITIZERS:-fuzzer,address}"
OUT=.build-fuzz/${SANITIZERS//,/-}
mkdir -p "$OUT/gossip" "$OUT/corpus"
FLAGS=(-parse-as-library -swift-version 6 -O -sanitize=$SANITIZERS -I "$ROOT/$OUT" -I "$ROOT/Sources/CSodium")

stamp="$OUT/sources.sha"
sources=$(ls Sources/Gossip/Core/*.swift; echo Tests/Fuzz/GossipFuzz.swift)
sum=$(cat $sources | sha256sum | cut -d' ' -f1)
if [ ! -x "$OUT/gossip-fuzz" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "building the fuzz target (.build-fuzz/gossip-fuzz)..."
    rm -f "$OUT"/gossip/*.o
    (cd "$OUT/gossip" && swiftc "${FLAGS[@]}" -c -module-name GossipCore -emit-module-path "$ROOT/$OUT/GossipCore.swiftmodule" \
        "$ROOT"/Sources/Gossip/Core/*.swift)
    # (ld.gold warns about every sanitizer symbol it cannot export: noise, kept out of sight.)
    swiftc "${FLAGS[@]}" Tests/Fuzz/GossipFuzz.swift "$OUT"/gossip/*.o -lsodium -o "$OUT/gossip-fuzz" \
        > "$OUT/link.log" 2>&1 || { cat "$OUT/link.log" >&2; exit 1; }
    echo "$sum" > "$stamp"
fi
[ "$RUNS" = build ] && exit 0
rm -rf "$OUT/corpus" && mkdir -p "$OUT/corpus"
# Seeds: the datagrams three cores exchanged (written by the target itself before fuzzing).
# -use_value_profile guides the fuzzer through the integer comparisons of the protocol rules.
CHORUS_FUZZ_SEEDS="$OUT/corpus" "$OUT/gossip-fuzz" "$OUT/corpus" -runs="$RUNS" -max_len=1500 -use_value_profile=1 \
    -print_final_stats=1 -detect_leaks=0 2>&1 | tee "$OUT/last-run.log" | grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|seed corpus|ERROR|SUMMARY|Deadly" || true
if grep -qE "ERROR: |deadly signal|SUMMARY: " "$OUT/last-run.log"; then
    echo "fuzzing found a crash: see $OUT/last-run.log and the crash-* file it names" >&2
    exit 1
fi
grep -E "^Done [0-9]+ runs" "$OUT/last-run.log"
