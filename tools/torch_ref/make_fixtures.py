"""Write the PyTorch parity fixtures that tests/nn/test_nn_parity.c checks.

    python3 tools/torch_ref/make_fixtures.py            # -> tests/fixtures/nn/*.bff

One small model per (architecture, mixer). Each fixture holds the config,
inputs, weights, the train-mode forward (Philox dropout masks, identical to
barforge's), loss, every gradient, the eval-mode predictions, and the losses
and parameters over 10 steps of grad-clip + AdamW.

Fixture format (little-endian): b"BFFIX001", uint32 record count, then per
record: uint32 name length, name, uint32 dtype (0 float32, 1 int32, 2 text),
uint64 element count, data.
"""
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import barforge_ref as bf  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures", "nn")
# EPS 1e-6, not 1e-8: on step 1 AdamW moves each entry by lr * g / (|g| + eps); an
# entry whose gradient is at rounding level (1e-8 of its tensor) would move by
# +-lr on a coin flip of rounding noise on either side, making the comparison
# chaotic; with 1e-6 such entries move by <= 1e-2 lr and the rest is unchanged.
STEPS, LR, WD, CLIP, B1, B2, EPS, SEED = 10, 1e-3, 0.01, 1.0, 0.9, 0.999, 1e-6, 1234


def write_fixture(path, records):
    with open(path, "wb") as f:
        f.write(b"BFFIX001" + struct.pack("<I", len(records)))
        for name, arr in records:
            if isinstance(arr, str):
                data, dt, n = arr.encode(), 2, len(arr.encode())
            else:
                a = np.ascontiguousarray(arr)
                dt = 1 if a.dtype.kind in "iu" else 0
                a = a.astype("<i4" if dt == 1 else "<f4")
                data, n = a.tobytes(), a.size
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<IQ", dt, n) + data)


def random_flat(cfg, rng):
    parts = []
    for name, shape, _ in bf.layout(cfg):
        last = name.rsplit(".", 1)[-1]
        n = int(np.prod(shape))
        if name == "emb.weight":
            v = rng.normal(0, 1, n)
        elif last == "pos":
            v = rng.normal(0, 0.1, n)
        elif last == "bias":
            v = rng.normal(0, 0.1, n)
        elif "gn." in name or "ln" in name:
            v = 1 + rng.normal(0, 0.1, n)
        else:
            v = rng.normal(0, 1 / np.sqrt(np.prod(shape[1:])), n)
        parts.append(v)
    return np.concatenate(parts).astype(np.float32)


def make_case(arch, mixer):
    cfg = bf.config(arch=arch, channel_mixer=mixer, n_features=5, seq_len=16, n_symbols=3,
                    emb_dim=3, cnn_hidden=16, cnn_blocks=3, cnn_kernels=[5, 5, 3],
                    cnn_dilations=[1, 2, 4], cnn_dropout=0.1, patch_size=4, patch_stride=2,
                    d_model=16, n_heads=2, num_layers=2, dropout=0.1,
                    loss="huber" if arch == "patchtst" else "mse", huber_delta=0.5)
    case_seed = {"patchtst": 10, "baseline": 20}[arch] + ["mlp", "ivar", "none"].index(mixer)
    rng = np.random.default_rng(case_seed)
    B = 6
    x = rng.normal(0, 1, (B, cfg["n_features"], cfg["seq_len"])).astype(np.float32)
    sym = np.array([0, 2, 1, 2, 0, 1], dtype=np.int32)
    y = rng.normal(0, 1, B).astype(np.float32)
    flat = random_flat(cfg, rng)

    torch.manual_seed(0)
    m = bf.Mirror(cfg, philox_dropout=True, seed=SEED, salt=0)
    m.load_flat(flat)
    xt, st, yt = torch.from_numpy(x), torch.from_numpy(sym.astype(np.int64)), torch.from_numpy(y)

    m.eval()
    with torch.no_grad():
        eval_pred = m(xt, st).numpy()
    m.train()
    opt = m.optimizer(LR, WD, (B1, B2), EPS)
    losses, pred0, loss0, grads0 = [], None, None, None
    for s in range(STEPS):
        m.step = s
        opt.zero_grad(set_to_none=False)
        pred = m(xt, st)
        loss = m.loss(pred, yt)
        loss.backward()
        if s == 0:
            pred0, loss0, grads0 = pred.detach().numpy().copy(), loss.item(), m.flat(grads=True)
        torch.nn.utils.clip_grad_norm_(m.parameters(), CLIP)
        opt.step()
        losses.append(loss.item())
    records = [("config", bf.config_json(cfg)), ("x", x), ("sym", sym), ("y", y),
               ("params", flat), ("pred", pred0), ("loss", np.array([loss0])),
               ("grads", grads0), ("eval_pred", eval_pred), ("losses", np.array(losses)),
               ("params_after", m.flat()),
               ("hyper", np.array([LR, B1, B2, EPS, WD, CLIP, STEPS, SEED]))]
    return cfg, records


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    total = 0
    for arch in ("patchtst", "baseline"):
        for mixer in ("mlp", "ivar", "none"):
            cfg, rec = make_case(arch, mixer)
            path = os.path.join(OUT, f"{arch}_{mixer}.bff")
            write_fixture(path, rec)
            total += os.path.getsize(path)
            losses = dict(rec)["losses"]
            print(f"{path}: {bf.n_params(cfg)} params, loss {losses[0]:.5g} -> {losses[-1]:.5g}")
    print(f"fixtures: {total} bytes")


if __name__ == "__main__":
    main()
