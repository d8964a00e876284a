#!/usr/bin/env bash
# The test phases of `make test`:
#   0. `swift build --build-tests`, with the fuzz target compiling beside it (it needs no
#      SwiftPM, and the package build starts by fetching);
#   1. the real-time tests (in-process nodes, node processes, sockets, the health manager's
#      timers), with two CPU-bound jobs beside them at a lower priority (`nice`): the fuzzer
#      (500 000 datagrams; `make fuzz` runs more, with AddressSanitizer) and the release build of
#      GossipCore, the simulator and its suite (~25 s);
#   2. the simulations alone, two at a time (~27 s).
# The whole run is bound by CPU on 2 cores: the real-time tests use 1.3 cores while they run, and
# running the simulations beside them as well made `make test` longer (313 s against 303 s).
# Every job runs; the script fails when any of them failed.
#
# The debug build carries no debug information (`-debug-info-format none`): test failures are
# reported by Swift Testing with their source locations either way, and the build took 133 s
# instead of 145 s on this 2-core VM (BENCHMARKS.md). `swift build` alone still builds with it.
set -uo pipefail
cd "$(dirname "$0")/.."
SWIFT="${SWIFT:-swift}"
DEBUG_INFO=(-debug-info-format none)
mkdir -p .build-fuzz
log=.build-fuzz/make-test.log

echo "== build (the fuzz target beside it; its log: $log) $(date +%T)"
SANITIZERS=fuzzer scripts/fuzz.sh build > "$log" 2>&1 &
fuzzbuild=$!
$SWIFT build --build-tests "${DEBUG_INFO[@]}" || { kill "$fuzzbuild" 2>/dev/null; exit 1; }
wait "$fuzzbuild" || { cat "$log"; echo "FAILED: the fuzz target does not build" >&2; exit 1; }

echo "== real-time tests, with the fuzzer and the simulations' release build beside them $(date +%T)"
simlog=.build-fuzz/simulations-build.log
nice -n 10 env SANITIZERS=fuzzer scripts/fuzz.sh 500000 >> "$log" 2>&1 &
fuzzer=$!
# Its own scratch directory: a build in .build holds SwiftPM's lock, and `swift test` waited 35 s for it.
SIMBUILD=(--scratch-path .build-simulations -c release)
nice -n 10 $SWIFT build "${SIMBUILD[@]}" --product simulation-tests > "$simlog" 2>&1 &
simbuild=$!
$SWIFT test --skip-build "${DEBUG_INFO[@]}"
tests=$?
echo "== real-time tests done $(date +%T)"
wait "$fuzzer"
fuzzed=$?
echo "== fuzzing done $(date +%T)"
cat "$log"
wait "$simbuild"
simulated=$?
cat "$simlog"
echo "== simulations $(date +%T)"
[ "$simulated" -eq 0 ] && CHORUS_SIMULATIONS_PARALLEL=2 "$($SWIFT build "${SIMBUILD[@]}" --show-bin-path)/simulation-tests"
simulated=$?
echo "== simulations done $(date +%T)"

failed=()
[ "$tests" -eq 0 ] || failed+=("tests")
[ "$fuzzed" -eq 0 ] || failed+=("fuzzing")
[ "$simulated" -eq 0 ] || failed+=("simulations")
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "all test phases passed $(date +%T)"
