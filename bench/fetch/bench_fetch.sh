#!/usr/bin/env bash
# bench_fetch.sh - `barforge fetch` (synthetic provider) into a fresh cache:
# bars/s and peak memory per rank, for 50 and 5,000 symbols x 2 years of 15m
# bars, on 1 and 2 ranks. Results go to docs/perf.md ("## Fetch (issue 3)").
#
#   bench/fetch/bench_fetch.sh [build-dir] [scratch-dir]
#
# The 5,000-symbol case writes about 4.2 GB to the scratch directory (deleted
# after each run). Dates are fixed so runs compare across days.
set -euo pipefail
BUILD=${1:-build}
SCRATCH=${2:-$(mktemp -d /tmp/bf_bench_fetch.XXXXXX)}
BIN=$BUILD/barforge
START=2024-11-28
END=2026-11-27
MPIRUN=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1} OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
cd "$(dirname "$0")/../.."   # default50 is read from data/universe

run() { # name ranks universe
    local name=$1 ranks=$2 uni=$3 dir=$SCRATCH/cache-$1
    rm -rf "$dir"
    local launch=()
    [ "$ranks" -gt 1 ] && launch=("$MPIRUN" -n "$ranks" --oversubscribe)
    local t0=$(date +%s.%N)
    "${launch[@]}" "$BIN" fetch --universe "$uni" --start $START --end $END --interval 15m \
        --cache-dir "$dir" --summary-json "$SCRATCH/$name.json" --table-rows 0 --log-level warn >/dev/null
    local t1=$(date +%s.%N)
    local du=$(du -sm "$dir" | cut -f1)
    python3 - "$SCRATCH/$name.json" "$name" "$ranks" "$t0" "$t1" "$du" <<'PY'
import json, sys
j = json.load(open(sys.argv[1])); name, ranks = sys.argv[2], int(sys.argv[3])
wall = float(sys.argv[5]) - float(sys.argv[4])
print(f"| {name} | {ranks} | {j['symbols']} | {j['fetched_bars']:,} | {j['elapsed_s']:.2f} | "
      f"{j['fetched_bars_per_s']:,.0f} | {j['cpu_s']:.1f} | {j['fetched_bars'] / j['cpu_s']:,.0f} | "
      f"{wall:.2f} | {j['peak_rss_mib_max_rank']:.0f} | {sys.argv[6]} |")
PY
    rm -rf "$dir"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "| case | ranks | symbols | bars | fetch s | bars/s | CPU s (all ranks) | bars per CPU s | process wall s | peak RSS MiB (max rank) | cache MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
run d50-1 1 default50
run d50-2 2 default50
run s5000-1 1 synthetic:5000
run s5000-2 2 synthetic:5000
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "generator alone (one core, no I/O):"
"$BUILD/bench/fetch/bench_synth" 200 15m $START 2026-11-28 || "$BUILD/bench_synth" 200 15m $START 2026-11-28
