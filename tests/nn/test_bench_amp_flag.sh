#!/usr/bin/env bash
# test_bench_amp_flag.sh BENCH_NN - `bench_nn --amp 1` where AMX is refused
# (BARFORGE_NO_AMX=1) exits 2 before any work, saying why; `--amp 0` with the
# same environment runs (one tiny step).
set -u
bin=$1
out=$(BARFORGE_NO_AMX=1 "$bin" --amp 1 --steps 1 --batch 2 --infer-iters 1 2>&1)
rc=$?
fail=0
if [ "$rc" -ne 2 ]; then echo "FAIL: --amp 1 without AMX exited $rc, want 2: $out"; fail=1; fi
case "$out" in
    *"BARFORGE_NO_AMX is set"*"--amp 1 needs AMX"*) ;;
    *) echo "FAIL: the message does not name the reason and the flag: $out"; fail=1 ;;
esac
case "$out" in *RESULT*) echo "FAIL: it ran the benchmark anyway"; fail=1 ;; esac
out=$(BARFORGE_NO_AMX=1 "$bin" --amp 0 --steps 1 --batch 2 --infer-iters 1 --threads 1 2>&1)
rc=$?
if [ "$rc" -ne 0 ]; then echo "FAIL: --amp 0 exited $rc: $out"; fail=1; fi
case "$out" in *"RESULT train_samples_per_s="*) ;; *) echo "FAIL: no result line: $out"; fail=1 ;; esac
[ "$fail" -eq 0 ] && echo "test_bench_amp_flag: all checks passed"
exit "$fail"
