"""PyTorch side of the model-engine benchmark: the mirror (tools/torch_ref) at
the seed's full-run configuration, same step as bench_nn (zero_grad, forward
with dropout, backward, clip_grad_norm_, AdamW), same thread count.

    python3 bench/nn/bench_torch.py --threads 2 [--steps 10] [--batch 256] [--amp]

--amp runs the forward and loss under torch.autocast("cpu", dtype=bfloat16),
PyTorch's own CPU mixed precision (its GEMMs and convolutions in bf16 through
oneDNN, which uses AMX where the CPU has it): the same-precision comparison
for `bench_nn --amp 1`. The seed itself turns AMP off on CPUs.

Prints "RESULT key=value" lines like bench_nn.
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "torch_ref"))
import barforge_ref as bf  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--infer-iters", type=int, default=300)
    ap.add_argument("--arch", default="patchtst")
    ap.add_argument("--channel-mixer", default="mlp")
    ap.add_argument("--amp", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = bf.config(arch=a.arch, channel_mixer=a.channel_mixer, n_features=33, n_symbols=50)
    m = bf.Mirror(cfg)
    opt = m.optimizer(3e-4, 0.01)
    rng = np.random.default_rng(3)
    B = a.batch
    x = torch.from_numpy(rng.normal(0, 1, (B, 33, cfg["seq_len"])).astype(np.float32))
    y = torch.from_numpy((0.01 * rng.normal(0, 1, B)).astype(np.float32))
    sym = torch.arange(B) % cfg["n_symbols"]
    print(f"bench_torch: torch {torch.__version__}, {bf.n_params(cfg)} params, batch {B}, "
          f"{a.threads} threads, amp {'bf16' if a.amp else 'off'}")
    m.train()
    total = ctotal = 0.0
    for s in range(a.steps + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp):
            loss = m.loss(m(x, sym).float(), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if s >= 2:
            total += dt
            ctotal += dc
    print(f"train: {a.steps} steps, {1e3 * total / a.steps:.1f} ms/step, loss {loss.item():.5g}")
    print(f"RESULT train_samples_per_s={a.steps * B / total:.1f} threads={a.threads} batch={B}")
    print(f"RESULT train_samples_per_cpu_s={a.steps * B / ctotal:.1f} (samples per CPU-second over all threads)")

    torch.set_num_threads(1)
    m.eval()
    lat = []
    with torch.inference_mode():
        for i in range(a.infer_iters + 10):
            t0 = time.perf_counter()
            m(x[i % B:i % B + 1], sym[i % B:i % B + 1])
            if i >= 10:
                lat.append(time.perf_counter() - t0)
    lat.sort()
    print(f"RESULT infer_latency_ms_median={1e3 * lat[len(lat) // 2]:.3f} "
          f"p90={1e3 * lat[len(lat) * 9 // 10]:.3f} threads=1")


if __name__ == "__main__":
    main()
