#!/usr/bin/env bash
# bench/build/run.sh - dataset build benchmark (issue 4), all in one run on
# the same cached bars:
#   1. cache: N symbols (synthetic:N) x 2 years of 15m bars, `barforge fetch`
#      with the synthetic provider (not timed);
#   2. bench/build/pandas_build.py on that cache (the pandas reference);
#   3. `barforge build` in one process (its threads: the machine's cores);
#   4. `barforge build` in one process with one thread (--num-workers 1);
#   5. `barforge build` under `mpirun -n RANKS` (one thread per rank: the
#      cores divided among the ranks);
# each REPEAT times (median wall time reported), then 4 and 5 again in
# alternation, REPEAT pairs (the median of the pairs' ratios), then the
# ratios. Wall time
# is the process's (or mpirun's) from start to exit; the build's own timer
# ("total (wall)" in its summary, from the job's start to the publish) is
# reported too, since mpirun's start-up is not the build's.
# LARGE=1 instead builds synthetic:5000 x 2 years on 2 ranks once, with
# /usr/bin/time per rank for the peak RSS.
#
#   bench/build/run.sh [BUILD_DIR]      (default: build)
#   env: N=50  REPEAT=3  WORK=/tmp/bf_bench_build  END=2024-12-31  LARGE=0
#        RANKS=2  KEEP=0 (keep the datasets)
#
# A plain `barforge` process runs without MPI (dist/mpi_env.h). Where Open
# MPI's PMIx has the munge security plugin but no munge daemon runs, mpirun
# waits about 2.3 s for it on every start: the script then sets
# PMIX_MCA_psec=^munge for its mpirun runs (and says so).
set -euo pipefail
BUILD=${1:-build}
BIN=$(realpath "$BUILD/barforge")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
N=${N:-50}
REPEAT=${REPEAT:-3}
WORK=${WORK:-/tmp/bf_bench_build}
END=${END:-2024-12-31}
RANKS=${RANKS:-2}
LARGE=${LARGE:-0}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ -z "${PMIX_MCA_psec:-}" ] && ! pgrep -x munged >/dev/null 2>&1; then
    export PMIX_MCA_psec=^munge
    echo "note: no munge daemon: PMIX_MCA_psec=^munge for mpirun"
fi
mkdir -p "$WORK"

# wall clock without a fork: `date` in a command substitution added 1-2 ms
# (two forks) to every timed run, 2 % of a 0.09 s build
now() { echo "${EPOCHREALTIME/,/.}"; }
# the cached bars in the page cache before every timed run (not timed): the
# VM's DAMON pageout scheme evicts file pages idle for a few seconds, so a
# run would otherwise read part of the cache from disk, at random
warm_cache() { [ -z "${CACHE:-}" ] || find "$CACHE" -name '*.h5' -exec cat {} + > /dev/null; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# time_cmd LABEL CMD...: runs REPEAT times; prints the medians of the wall
# time, the CPU time (user+sys, the largest rank's under mpirun) and the
# build's own total; echoes "wall cpu total". CPU seconds measure the work
# itself when the machine is shared (wall time then depends on load).
time_cmd() {
    local label=$1; shift
    local ws=() cs=() ts=() t0 t1
    for ((i = 0; i < REPEAT; i++)); do
        rm -rf "$WORK/ds" "$WORK"/cpu.*
        sync
        warm_cache
        t0=${EPOCHREALTIME/,/.}
        "$@" > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; echo "FAILED: $label" >&2; exit 1; }
        t1=${EPOCHREALTIME/,/.}
        ws+=("$(echo "$t1 - $t0" | bc -l)")
        cs+=("$(cat "$WORK"/cpu.* | awk '{c = $2 + $3; if (c > m) m = c} END {print m}')")
        ts+=("$(grep -ho 'total (wall) [0-9.]*' "$WORK/last.log" | awk '{print $3}' | head -1 || true)")
    done
    local w c t
    w=$(printf '%s\n' "${ws[@]}" | median)
    c=$(printf '%s\n' "${cs[@]}" | median)
    t=$(printf '%s\n' "${ts[@]}" | median)
    printf '%-44s wall %7.3f s  cpu %7.3f s  build total %6.3f s  (walls: %s)\n' "$label" "$w" "$c" \
        "$t" "${ws[*]}" >&2
    echo "$w $c $t"
}
# per-process CPU accounting: cpu.<rank> holds "wall user sys"
T() { /usr/bin/time -f "%e %U %S" -o "$WORK/cpu.${OMPI_COMM_WORLD_RANK:-0}" "$@"; }
export -f T
export WORK

host_info() {
    echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB RAM; $(date -u +%Y-%m-%d)"
    echo "barforge: $("$BIN" version 2>/dev/null | head -1 || true)"
}

if [ "$LARGE" = 1 ]; then
    N=5000
    CACHE="$WORK/cache5000"
    host_info
    if [ ! -d "$CACHE/synthetic/15m" ] || [ "$(ls "$CACHE/synthetic/15m" | wc -l)" -lt $N ]; then
        echo "fetching synthetic:$N x 2 years into $CACHE (not timed) ..."
        t0=$(now)
        mpirun -n "$RANKS" --oversubscribe "$BIN" fetch --universe "synthetic:$N" --end "$END" \
            --cache-dir "$CACHE" --table-rows 0 > "$WORK/fetch.log" 2>&1
        echo "fetch: $(echo "$(now) - $t0" | bc -l) s, cache $(du -sh "$CACHE" | cut -f1)"
    fi
    rm -rf "$WORK/ds5000"
    warm_cache
    sync # the disk idle at the start (a build right after another one's
         # gigabytes waits for their writeback: 2-3x slower here)
    t0=$(now)
    mpirun -n "$RANKS" --oversubscribe /usr/bin/time -f "rank peak RSS %M KiB, wall %e s" \
        "$BIN" build --universe "synthetic:$N" --providers synthetic --cache-dir "$CACHE" \
        --datasets-root "$WORK/ds5000" > "$WORK/large.log" 2>&1 || { cat "$WORK/large.log"; exit 1; }
    wall=$(echo "$(now) - $t0" | bc -l)
    cat "$WORK/large.log" | grep -v '^\[' || true
    printf 'LARGE: %d symbols x 2 years, %d ranks: wall %.1f s (mpirun included)\n' $N "$RANKS" "$wall"
    du -sh "$WORK/ds5000"/v* | sed 's/^/dataset size: /'
    [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK/ds5000"
    exit 0
fi

CACHE="$WORK/cache$N"
host_info
if [ ! -d "$CACHE/synthetic/15m" ] || [ "$(ls "$CACHE/synthetic/15m" | wc -l)" -lt "$N" ]; then
    "$BIN" fetch --universe "synthetic:$N" --end "$END" --cache-dir "$CACHE" --table-rows 0 \
        > "$WORK/fetch.log" 2>&1
fi
SYMS=$(python3 -c "print(','.join('S%05d' % i for i in range(1, $N + 1)))")
echo "cache: $N symbols, $(du -sh "$CACHE" | cut -f1), 2 years of 15m bars ending $END"

BUILD_ARGS=(build --universe "synthetic:$N" --providers synthetic --cache-dir "$CACHE"
            --datasets-root "$WORK/ds")
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r w_pd c_pd _ < <(time_cmd "pandas (pandas_build.py)" bash -c 'T "$@"' _ python3 \
    "$SRC/bench/build/pandas_build.py" --cache "$CACHE" --symbols "$SYMS" --out "$WORK/pandas.npz")
read -r w_1 c_1 t_1 < <(time_cmd "barforge build, 1 process" bash -c 'T "$@"' _ "$BIN" "${BUILD_ARGS[@]}")
grep -h "rows:\|timings" "$WORK/last.log" | sed 's/^/  1 process: /'
read -r w_11 c_11 t_11 < <(time_cmd "barforge build, 1 process, 1 thread" bash -c 'T "$@"' _ \
    "$BIN" "${BUILD_ARGS[@]}" --num-workers 1)
read -r w_2 c_2 t_2 < <(time_cmd "barforge build, mpirun -n $RANKS" mpirun -n "$RANKS" --oversubscribe \
    bash -c 'T "$@"' _ "$BIN" "${BUILD_ARGS[@]}")
grep -h "timings" "$WORK/last.log" | sed "s/^/  $RANKS ranks: /"
# the rank ratio again, run in alternation (1 process with 1 thread, then
# the ranks, REPEAT times): the VM's speed drifts by tens of percent over
# minutes, which the blocks above (each configuration's runs back to back)
# turn into noise in the ratio; each pair here ran within a second
pairs=()
pair_times=()
for ((i = 0; i < REPEAT; i++)); do
    rm -rf "$WORK/ds"; sync; warm_cache
    a=$("$BIN" "${BUILD_ARGS[@]}" --num-workers 1 2>&1 | grep -o 'total (wall) [0-9.]*' | awk '{print $3}')
    rm -rf "$WORK/ds"; sync; warm_cache
    b=$(mpirun -n "$RANKS" --oversubscribe "$BIN" "${BUILD_ARGS[@]}" 2>&1 |
        grep -o 'total (wall) [0-9.]*' | awk '{print $3}')
    pairs+=("$(echo "$a / $b" | bc -l)")
    pair_times+=("$a/$b")
done
pr_med=$(printf '%s\n' "${pairs[@]}" | median)
pr_all=$(printf '%s\n' "${pairs[@]}" | sort -g | xargs printf '%.2f ')
echo "alternated pairs, build timers (1 thread / $RANKS ranks, s, in run order): ${pair_times[*]}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
r() { echo "$1 / $2" | bc -l; }
echo
printf 'pandas / barforge 1 process, wall:            %6.1fx  (1 thread: %.1fx)\n' "$(r "$w_pd" "$w_1")" "$(r "$w_pd" "$w_11")"
printf 'pandas / barforge 1 process, CPU:             %6.1fx\n' "$(r "$c_pd" "$c_1")"
printf '1 process (1 thread) / %d ranks, build timer: %6.2fx  (wall incl. mpirun: %.2fx)\n' "$RANKS" "$(r "$t_11" "$t_2")" "$(r "$w_11" "$w_2")"
printf '1 process (%d threads) / %d ranks, build timer: %5.2fx  (the same cores either way)\n' "$(nproc)" "$RANKS" "$(r "$t_1" "$t_2")"
printf '1 process (1 thread) / %d ranks, alternated pairs: median %.2fx (%s)\n' "$RANKS" "$pr_med" "$pr_all"
[ "${KEEP:-0}" = 1 ] || rm -rf "$WORK/ds" "$WORK/pandas.npz"
