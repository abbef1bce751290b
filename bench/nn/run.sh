#!/usr/bin/env bash
# bench/nn/run.sh - barforge's CPU engine vs the PyTorch mirror, same machine,
# same thread count, one run: train-step samples/s at the seed's full-run
# configuration (batch 256) and single-sample inference latency on one core.
#
#   bench/nn/run.sh [THREADS] [BUILD_DIR] [ROUNDS]
#
# THREADS defaults to $BARFORGE_THREADS or 2; BUILD_DIR to build/. The two
# programs alternate for ROUNDS rounds (default 2) and the best round of each
# is reported, so a noisy neighbour hurts both sides alike. Samples per
# CPU-second are printed too: on a loaded machine they measure the work, not
# the neighbours. STEPS (default 10) sets the timed steps per round.
# AMP=1: barforge runs `--amp 1` (bf16 GEMMs on AMX, what --use-amp means on a
# CPU) and PyTorch runs twice per round, fp32 (what the seed does with
# --use-amp on a CPU: AMP off) and under CPU autocast bf16; both ratios print.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
T=${1:-${BARFORGE_THREADS:-2}}
BUILD=${2:-$root/build}
ROUNDS=${3:-2}
bin="$BUILD/bench/nn/bench_nn"
if [ ! -x "$bin" ]; then
    cmake --build "$BUILD" --target bench_nn >&2
fi
best() { sort -g | tail -1; }
lowest() { sort -g | head -1; }
STEPS=${STEPS:-10}
AMP=${AMP:-0}
c_sps=() t_sps=() c_lat=() t_lat=() c_cpu=() t_cpu=() a_sps=() a_cpu=()
for r in $(seq "$ROUNDS"); do
    out=$("$bin" --threads "$T" --steps "$STEPS" --amp "$AMP")
    echo "$out" >&2
    c_sps+=("$(echo "$out" | sed -n 's/.*train_samples_per_s=\([0-9.]*\).*/\1/p')")
    c_cpu+=("$(echo "$out" | sed -n 's/.*train_samples_per_cpu_s=\([0-9.]*\).*/\1/p')")
    c_lat+=("$(echo "$out" | sed -n 's/.*infer_latency_ms_median=\([0-9.]*\).*/\1/p')")
    out=$(python3 "$root/bench/nn/bench_torch.py" --threads "$T" --steps "$STEPS")
    echo "$out" >&2
    t_sps+=("$(echo "$out" | sed -n 's/.*train_samples_per_s=\([0-9.]*\).*/\1/p')")
    t_cpu+=("$(echo "$out" | sed -n 's/.*train_samples_per_cpu_s=\([0-9.]*\).*/\1/p')")
    t_lat+=("$(echo "$out" | sed -n 's/.*infer_latency_ms_median=\([0-9.]*\).*/\1/p')")
    if [ "$AMP" = 1 ]; then
        out=$(python3 "$root/bench/nn/bench_torch.py" --threads "$T" --steps "$STEPS" --amp --infer-iters 1)
        echo "$out" >&2
        a_sps+=("$(echo "$out" | sed -n 's/.*train_samples_per_s=\([0-9.]*\).*/\1/p')")
        a_cpu+=("$(echo "$out" | sed -n 's/.*train_samples_per_cpu_s=\([0-9.]*\).*/\1/p')")
    fi
done
cs=$(printf '%s\n' "${c_sps[@]}" | best); ts=$(printf '%s\n' "${t_sps[@]}" | best)
cc=$(printf '%s\n' "${c_cpu[@]}" | best); tc=$(printf '%s\n' "${t_cpu[@]}" | best)
cl=$(printf '%s\n' "${c_lat[@]}" | lowest); tl=$(printf '%s\n' "${t_lat[@]}" | lowest)
echo "threads=$T  train samples/s: barforge $cs  pytorch $ts  ratio $(python3 -c "print(f'{$cs/$ts:.2f}')")x"
echo "threads=$T  train samples per CPU-second: barforge $cc  pytorch $tc  ratio $(python3 -c "print(f'{$cc/$tc:.2f}')")x"
if [ "$AMP" = 1 ]; then
    as=$(printf '%s\n' "${a_sps[@]}" | best); ac=$(printf '%s\n' "${a_cpu[@]}" | best)
    echo "(barforge above: --amp 1; pytorch above: fp32)"
    echo "threads=$T  train samples/s: barforge amp $cs  pytorch autocast-bf16 $as  ratio $(python3 -c "print(f'{$cs/$as:.2f}')")x"
    echo "threads=$T  train samples per CPU-second: barforge amp $cc  pytorch autocast-bf16 $ac  ratio $(python3 -c "print(f'{$cc/$ac:.2f}')")x"
fi
echo "inference latency (1 core, B=1, median ms): barforge $cl  pytorch $tl"
