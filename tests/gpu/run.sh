#!/usr/bin/env bash
# tests/gpu/run.sh - the one script for a lent GPU machine: build the engine
# with CUDA alone (no MPI/HDF5/cJSON needed), run the GPU tests, print the
# device. Results land in $OUT when set.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/bf-gpu-out}
mkdir -p "$OUT"
nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt" | head -15
cmake -S . -B build-gpu -DBARFORGE_ENGINE_ONLY=ON -DBARFORGE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
    2>&1 | tail -15
cmake --build build-gpu -j16 2>&1 | tail -5
ctest --test-dir build-gpu -L gpu --output-on-failure 2>&1 | tee "$OUT/ctest-gpu.txt"
