#!/usr/bin/env bash
# Gossip figures from the simulator, medians over seeds (see BENCHMARKS.md).
#   scripts/bench-gossip.sh RELEASE_BIN_DIR [SEEDS]
# N=1000: rounds of 200 ms until a status change reaches every node.
# N=100:  bytes per node per second at rest, and time until a crashed node is dead everywhere
#         (median and worst over the seeds), with no loss and with 10 % loss.
set -euo pipefail
bin=${1:?usage: bench-gossip.sh RELEASE_BIN_DIR [SEEDS]}
seeds=${2:-10}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
run() { # nodes loss seed
  "$bin/chorus-cluster-health" simulate --nodes "$1" --loss "$2" --seed "$3" --rest-seconds 60 --json 2>/dev/null
}
for seed in $(seq 1 "$seeds"); do
  run 1000 0 "$seed" >"$out/n1000-l0-$seed.json"
  run 100 0 "$seed" >"$out/n100-l0-$seed.json"
  run 100 0.1 "$seed" >"$out/n100-l10-$seed.json"
  echo "seed $seed done" >&2
done
python3 - "$out" "$seeds" <<'PY'
import glob, json, statistics, sys
out, seeds = sys.argv[1], int(sys.argv[2])
def load(pattern):
    return [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{pattern}"))]
def summary(values, unit):
    values = [v for v in values if v is not None]
    if not values: return "not reached"
    return f"median {statistics.median(values):g}{unit}, worst {max(values):g}{unit} (n={len(values)})"
n1000 = load("n1000-l0-*.json")
print(f"N=1000, no loss, {seeds} seeds")
print("  change reaches all 999 others:", summary([r["changeRounds"] for r in n1000], " rounds"))
print("  join converged:", summary([r["joinSeconds"] for r in n1000], " s"))
print("  at rest:", summary([round(r["restBytesPerNodePerSecond"], 1) for r in n1000], " B/s per node"))
print("  crash dead everywhere:", summary([r["deadEverywhereSeconds"] for r in n1000], " s"))
for name, pattern in [("no loss", "n100-l0-*.json"), ("10 % loss", "n100-l10-*.json")]:
    runs = load(pattern)
    print(f"N=100, {name}, {seeds} seeds")
    print("  change reaches all 99 others:", summary([r["changeRounds"] for r in runs], " rounds"))
    print("  at rest:", summary([round(r["restBytesPerNodePerSecond"], 1) for r in runs], " B/s per node"))
    print("  crash dead everywhere:", summary([r["deadEverywhereSeconds"] for r in runs], " s"))
    print("  false deaths:", sum(r["falseDeaths"] for r in runs))
PY
