#!/usr/bin/env bash
# The test phases of `make test`:
#   0. `swift build --build-tests` alone (it uses both cores throughout);
#   1. the release build of the simulator and its suite (GossipCore and the simulator only: about
#      28 s, on 1.2 cores: whole-module optimisation compiles a module on one core), with the fuzz
#      target compiling on the other core (24 s; it needs no SwiftPM). Beside the debug build it
#      cost that build ~12 s; here it is nearly free;
#   2. the real-time tests (in-process nodes, node processes, sockets, the health manager's
#      timers), with the fuzzer beside them at a lower priority (`nice`; 500 000 datagrams in
#      ~22 s, `make fuzz` runs more, with AddressSanitizer): the tests mostly wait on timers and
#      the network, and use about 1.3 cores while they run;
#   3. the CPU-bound simulations alone, two at a time (~17 s).
# The whole run is bound by CPU on 2 cores: building the simulations beside the real-time tests
# made two timing-sensitive tests fail on a fresh clone (the Kubernetes rehearsal, a health-check
# deadline), and running them there made the run longer (313 s against 303 s).
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

echo "== build $(date +%T)"
$SWIFT build --build-tests "${DEBUG_INFO[@]}" || exit 1

echo "== release build of the simulations, the fuzz target beside it (its log: $log) $(date +%T)"
SANITIZERS=fuzzer scripts/fuzz.sh build > "$log" 2>&1 &
fuzzbuild=$!
$SWIFT build -c release --product simulation-tests
released=$?
wait "$fuzzbuild" || { cat "$log"; echo "FAILED: the fuzz target does not build" >&2; exit 1; }

echo "== real-time tests, with the fuzzer beside them $(date +%T)"
nice -n 10 env SANITIZERS=fuzzer scripts/fuzz.sh 500000 >> "$log" 2>&1 &
fuzzer=$!
$SWIFT test --skip-build "${DEBUG_INFO[@]}"
tests=$?
echo "== real-time tests done $(date +%T)"
wait "$fuzzer"
fuzzed=$?
echo "== fuzzing done $(date +%T)"
cat "$log"

echo "== simulations (release build) $(date +%T)"
simulated=$released
if [ "$released" -eq 0 ]; then
    CHORUS_SIMULATIONS_PARALLEL=2 "$($SWIFT build -c release --show-bin-path)/simulation-tests"
    simulated=$?
fi
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
