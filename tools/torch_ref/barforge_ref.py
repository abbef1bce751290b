"""PyTorch mirror of the barforge model engine (core/nn), same parameter layout.

Use it to analyse barforge models in Python, to write the parity fixtures
(make_fixtures.py) and as the PyTorch side of the speed benchmark.

    import barforge_ref as bf
    cfg, flat = bf.load_params("run/params.bfp")        # flat parameter file
    cfg, flat = bf.load_h5_checkpoint("ckpt.h5")        # /model/params + config_json
    model = bf.Mirror(cfg); model.load_flat(flat)
    pred = model(x, sym)                                # x: (B, C, L) float32, sym: (B,) int64

The tensor table (`layout(cfg)`) lists (name, shape) in flat-buffer order and
must stay identical to core/nn/model_layout.c; docs/model.md documents both.
With `philox_dropout=True`, dropout masks are barforge's Philox masks, so a
training step matches the C engine exactly (up to float rounding).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULTS = dict(arch="patchtst", n_features=33, seq_len=64, n_symbols=50, emb_dim=12,
                cnn_hidden=128, cnn_blocks=3, cnn_kernels=[5, 5, 3], cnn_dilations=[1, 2, 4],
                cnn_dropout=0.1, patch_size=8, patch_stride=4, d_model=128, n_heads=4,
                num_layers=3, dropout=0.1, channel_mixer="mlp", loss="huber", huber_delta=0.01)


def config(**kw):
    cfg = dict(DEFAULTS)
    cfg["cnn_kernels"] = list(cfg["cnn_kernels"])
    cfg["cnn_dilations"] = list(cfg["cnn_dilations"])
    for k, v in kw.items():
        if k not in cfg:
            raise KeyError(f"unknown model setting {k!r}")
        cfg[k] = v
    return cfg


def config_json(cfg):
    """The exact text bf_model_config_to_json writes (key order, %.9g floats)."""
    def g(v):
        return "%.9g" % v
    c = cfg
    return ("{" + f"\"arch\":\"{c['arch']}\",\"n_features\":{c['n_features']},"
            f"\"seq_len\":{c['seq_len']},\"n_symbols\":{c['n_symbols']},"
            f"\"emb_dim\":{c['emb_dim']},\"cnn_hidden\":{c['cnn_hidden']},"
            f"\"cnn_blocks\":{c['cnn_blocks']},"
            f"\"cnn_kernels\":[{','.join(str(k) for k in c['cnn_kernels'])}],"
            f"\"cnn_dilations\":[{','.join(str(k) for k in c['cnn_dilations'])}],"
            f"\"cnn_dropout\":{g(c['cnn_dropout'])},\"patch_size\":{c['patch_size']},"
            f"\"patch_stride\":{c['patch_stride']},\"d_model\":{c['d_model']},"
            f"\"n_heads\":{c['n_heads']},\"num_layers\":{c['num_layers']},"
            f"\"dropout\":{g(c['dropout'])},\"channel_mixer\":\"{c['channel_mixer']}\","
            f"\"loss\":\"{c['loss']}\",\"huber_delta\":{g(c['huber_delta'])}" + "}")


def gn_groups(h):
    for g in range(8, 1, -1):
        if h % g == 0:
            return g
    return 1


def dims(cfg):
    P, S = (cfg["patch_size"], cfg["patch_stride"]) if cfg["arch"] == "patchtst" else (1, 1)
    L = cfg["seq_len"]
    return dict(C=cfg["n_features"], E=cfg["emb_dim"], L=L, H=cfg["cnn_hidden"], P=P, S=S,
                T=(L - P) // S + 1, D=cfg["d_model"], NH=cfg["n_heads"], F=4 * cfg["d_model"],
                G=gn_groups(cfg["cnn_hidden"]))


def layout(cfg):
    """[(name, shape, decay)] in flat-buffer order (core/nn/model_layout.c)."""
    d = dims(cfg)
    H, D, L, Fw = d["H"], d["D"], d["L"], d["F"]
    t = []
    if d["E"] > 0:
        t.append(("emb.weight", (cfg["n_symbols"], d["E"]), 0))
    t += [("stem.in.weight", (H, d["C"] + d["E"]), 1), ("stem.in.bias", (H,), 0)]
    for i in range(cfg["cnn_blocks"]):
        p = f"stem.blocks.{i}."
        t += [(p + "dw.weight", (H, cfg["cnn_kernels"][i]), 1), (p + "dw.bias", (H,), 0),
              (p + "pw.weight", (2 * H, H), 1), (p + "pw.bias", (2 * H,), 0),
              (p + "gn.weight", (H,), 0), (p + "gn.bias", (H,), 0)]
    if cfg["channel_mixer"] == "mlp":
        t += [("mixer.fc1.weight", (H, H), 1), ("mixer.fc1.bias", (H,), 0),
              ("mixer.fc2.weight", (H, H), 1), ("mixer.fc2.bias", (H,), 0)]
    elif cfg["channel_mixer"] == "ivar":
        t += [("mixer.ln.weight", (L,), 0), ("mixer.ln.bias", (L,), 0),
              ("mixer.qkv.weight", (3 * L, L), 1), ("mixer.qkv.bias", (3 * L,), 0),
              ("mixer.proj.weight", (L, L), 1), ("mixer.proj.bias", (L,), 0)]
    t += [("tokenizer.weight", (D, d["P"], H), 1), ("tokenizer.bias", (D,), 0),
          ("tokenizer.pos", (d["T"], D), 0)]
    for l in range(cfg["num_layers"]):
        p = f"layers.{l}."
        t += [(p + "ln1.weight", (D,), 0), (p + "ln1.bias", (D,), 0),
              (p + "attn.qkv.weight", (3 * D, D), 1), (p + "attn.qkv.bias", (3 * D,), 0),
              (p + "attn.proj.weight", (D, D), 1), (p + "attn.proj.bias", (D,), 0),
              (p + "ln2.weight", (D,), 0), (p + "ln2.bias", (D,), 0),
              (p + "mlp.fc1.weight", (Fw, D), 1), (p + "mlp.fc1.bias", (Fw,), 0),
              (p + "mlp.fc2.weight", (D, Fw), 1), (p + "mlp.fc2.bias", (D,), 0)]
    t += [("ln_f.weight", (D,), 0), ("ln_f.bias", (D,), 0),
          ("head.weight", (1, D), 1), ("head.bias", (1,), 0)]
    return t


def n_params(cfg):
    return sum(int(np.prod(s)) for _, s, _ in layout(cfg))


# ---- Philox dropout masks, bit-identical to core/nn/ops_elem.c -----------------

_M0, _M1, _W0, _W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
_MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32(key, c0, c1, c2, c3):
    """Vectorized Philox4x32-10 over uint64 arrays holding 32-bit words."""
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    x0, x1, x2, x3 = (np.asarray(c, dtype=np.uint64) & _MASK32 for c in (c0, c1, c2, c3))
    x1, x2, x3 = (np.broadcast_to(v, x0.shape).copy() for v in (x1, x2, x3))
    for _ in range(10):
        p0 = np.uint64(_M0) * x0
        p1 = np.uint64(_M1) * x2
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK32
        x0, x1, x2, x3 = hi1 ^ x1 ^ k0, lo1, hi0 ^ x3 ^ k1, lo0
        k0 = (k0 + np.uint64(_W0)) & _MASK32
        k1 = (k1 + np.uint64(_W1)) & _MASK32
    return x0, x1, x2, x3


def dropout_mask(n, p, seed, salt, step, layer):
    """keep-mask of n elements for (seed, salt, step, layer), as barforge draws it:
    Philox counter (element // 8, layer, step mod 2^32, salt), 16 bits per element."""
    key = (seed ^ ((2 * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)) & 0xFFFFFFFFFFFFFFFF
    g = np.arange((n + 7) // 8, dtype=np.uint64)
    r = np.stack(philox4x32(key, g, layer, step & 0xFFFFFFFF, salt), axis=1)  # (G, 4)
    halves = np.stack([r & np.uint64(0xFFFF), r >> np.uint64(16)], axis=2)      # (G, 4, 2)
    u = halves.reshape(-1)[:n]
    thresh = np.uint64(int(float(np.float32(p)) * 65536.0))  # C: (double)(float)p * 2^16
    return u >= thresh


# ---- the model -------------------------------------------------------------

class Mirror(nn.Module):
    """Both architectures; parameters named and shaped as barforge's table."""

    def __init__(self, cfg, philox_dropout=False, seed=0, salt=0):
        super().__init__()
        self.cfg = dict(cfg)
        self.d = dims(cfg)
        self.table = layout(cfg)
        self.params = nn.ParameterDict()
        for name, shape, _ in self.table:
            self.params[name.replace(".", "_")] = nn.Parameter(torch.zeros(shape))
        self.reset_parameters()
        # the key slice of each qkv bias has an exact gradient of 0 (softmax is
        # shift-invariant); barforge writes 0 there, and so does the mirror
        for name, shape, _ in self.table:
            if name.endswith("qkv.bias"):
                w = shape[0] // 3
                keep = torch.ones(shape)
                keep[w:2 * w] = 0
                self.p(name).register_hook(lambda g, keep=keep: g * keep.to(g.dtype))
        self.philox_dropout = philox_dropout
        self.seed, self.salt, self.step = seed, salt, 0

    def p(self, name):
        return self.params[name.replace(".", "_")]

    def reset_parameters(self):
        """PyTorch-style init (barforge's own init is documented in docs/model.md)."""
        with torch.no_grad():
            for name, shape, _ in self.table:
                t = self.p(name)
                last = name.rsplit(".", 1)[-1]
                if name == "emb.weight":
                    t.normal_(0, 1)
                elif last == "pos":
                    t.normal_(0, 0.02)
                elif last == "bias":
                    t.zero_()
                elif "gn." in name or "ln" in name:
                    t.fill_(1.0)
                else:
                    fan_in = int(np.prod(shape[1:]))
                    t.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))

    # flat buffer <-> parameters
    def load_flat(self, flat):
        flat = np.asarray(flat, dtype=np.float32)
        if flat.size != n_params(self.cfg):
            raise ValueError(f"flat buffer has {flat.size} floats; config needs {n_params(self.cfg)}")
        off = 0
        with torch.no_grad():
            for name, shape, _ in self.table:
                n = int(np.prod(shape))
                t = self.p(name)
                t.copy_(torch.from_numpy(flat[off:off + n].reshape(shape)).to(t.dtype))
                off += n

    def flat(self, grads=False):
        out = []
        for name, _, _ in self.table:
            t = self.p(name).grad if grads else self.p(name)
            out.append(t.detach().reshape(-1).to(torch.float32).cpu().numpy())
        return np.concatenate(out)

    def _drop(self, x_cl, p, layer):
        """dropout on a channel-last tensor (elements indexed as barforge's buffers)."""
        if not self.training or p <= 0:
            return x_cl
        if not self.philox_dropout:
            return F.dropout(x_cl, p, True)
        m = dropout_mask(x_cl.numel(), p, self.seed, self.salt, self.step, layer)
        m = torch.from_numpy(m.reshape(x_cl.shape)).to(x_cl.device)
        return x_cl * m.to(x_cl.dtype) * float(np.float32(1.0) / (np.float32(1.0) - np.float32(p)))

    def forward(self, x, sym):
        cfg, d, p = self.cfg, self.d, self.p
        B, L, H = x.shape[0], d["L"], d["H"]
        # 1. symbols tiled as channels; the stem runs channel-first like the seed's Conv1d
        h = x
        if d["E"] > 0:
            e = p("emb.weight")[sym]                                  # (B, E)
            h = torch.cat([x, e[:, :, None].expand(B, d["E"], L)], dim=1)
        s = F.conv1d(h, p("stem.in.weight")[:, :, None], p("stem.in.bias"))
        for i in range(cfg["cnn_blocks"]):
            b = f"stem.blocks.{i}."
            k, dil = cfg["cnn_kernels"][i], cfg["cnn_dilations"][i]
            a = F.conv1d(F.pad(s, ((k - 1) * dil, 0)), p(b + "dw.weight")[:, None, :],
                         p(b + "dw.bias"), dilation=dil, groups=H)
            g = F.glu(F.conv1d(a, p(b + "pw.weight")[:, :, None], p(b + "pw.bias")), dim=1)
            n = F.group_norm(g, d["G"], p(b + "gn.weight"), p(b + "gn.bias"), eps=1e-5)
            n = self._drop(n.transpose(1, 2), cfg["cnn_dropout"], 1 + i).transpose(1, 2)
            s = s + n
        # 2. channel mixer
        if cfg["channel_mixer"] == "mlp":
            u = F.gelu(F.conv1d(s, p("mixer.fc1.weight")[:, :, None], p("mixer.fc1.bias")))
            s = s + F.conv1d(u, p("mixer.fc2.weight")[:, :, None], p("mixer.fc2.bias"))
        elif cfg["channel_mixer"] == "ivar":
            t = F.layer_norm(s, (L,), p("mixer.ln.weight"), p("mixer.ln.bias"), eps=1e-5)
            q, k_, v = F.linear(t, p("mixer.qkv.weight"), p("mixer.qkv.bias")).split(L, dim=-1)
            o = F.scaled_dot_product_attention(q, k_, v)             # tokens = channels
            s = s + F.linear(o, p("mixer.proj.weight"), p("mixer.proj.bias"))
        # 3. tokens
        w = p("tokenizer.weight").permute(0, 2, 1)                    # (D, H, P)
        tok = F.conv1d(s, w, p("tokenizer.bias"), stride=d["S"]).transpose(1, 2)
        xt = self._drop(tok + p("tokenizer.pos"), cfg["dropout"], 1000)
        # 4. causal Transformer, pre-norm
        D, NH, T = d["D"], d["NH"], d["T"]
        for l in range(cfg["num_layers"]):
            b = f"layers.{l}."
            y = F.layer_norm(xt, (D,), p(b + "ln1.weight"), p(b + "ln1.bias"), eps=1e-5)
            q, k_, v = F.linear(y, p(b + "attn.qkv.weight"), p(b + "attn.qkv.bias")).split(D, -1)
            q, k_, v = (z.view(B, T, NH, D // NH).transpose(1, 2) for z in (q, k_, v))
            o = F.scaled_dot_product_attention(q, k_, v, is_causal=True)
            o = o.transpose(1, 2).reshape(B, T, D)
            o = F.linear(o, p(b + "attn.proj.weight"), p(b + "attn.proj.bias"))
            xt = xt + self._drop(o, cfg["dropout"], 2000 + 2 * l)
            y = F.layer_norm(xt, (D,), p(b + "ln2.weight"), p(b + "ln2.bias"), eps=1e-5)
            y = F.linear(F.gelu(F.linear(y, p(b + "mlp.fc1.weight"), p(b + "mlp.fc1.bias"))),
                         p(b + "mlp.fc2.weight"), p(b + "mlp.fc2.bias"))
            xt = xt + self._drop(y, cfg["dropout"], 2000 + 2 * l + 1)
        # 5. last token -> ln_f -> head
        last = F.layer_norm(xt[:, -1], (D,), p("ln_f.weight"), p("ln_f.bias"), eps=1e-5)
        return F.linear(last, p("head.weight"), p("head.bias"))[:, 0]

    def loss(self, pred, y):
        if self.cfg["loss"] == "huber":
            return F.huber_loss(pred, y, delta=self.cfg["huber_delta"])
        return F.mse_loss(pred, y)

    def optimizer(self, lr, weight_decay, betas=(0.9, 0.999), eps=1e-8):
        """AdamW with barforge's decay groups (matrices decay; the rest does not)."""
        decay = [self.p(n) for n, _, dc in self.table if dc]
        rest = [self.p(n) for n, _, dc in self.table if not dc]
        return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                  {"params": rest, "weight_decay": 0.0}],
                                 lr=lr, betas=betas, eps=eps)


# ---- files -----------------------------------------------------------------

PF_MAGIC = b"BFPARAM1"


def parse_config_json(text):
    cfg = config()
    for k, v in json.loads(text).items():
        if k not in cfg:
            raise KeyError(f"unknown model setting {k!r} in config JSON")
        cfg[k] = v
    return cfg


def load_params(path):
    """Read a barforge flat parameter file -> (cfg, float32 array)."""
    with open(path, "rb") as f:
        head = f.read(24)
        if len(head) < 24 or head[:8] != PF_MAGIC:
            raise ValueError(f"{path}: not a barforge parameter file")
        version, jlen, n = struct.unpack("<IIq", head[8:])
        if version != 1:
            raise ValueError(f"{path}: format version {version}, this reader knows 1")
        cfg = parse_config_json(f.read(jlen).decode())
        flat = np.frombuffer(f.read(4 * n), dtype="<f4")
        if flat.size != n:
            raise ValueError(f"{path}: truncated ({flat.size} of {n} floats)")
    return cfg, flat.astype(np.float32)


def save_params(path, cfg, flat):
    """Write a flat parameter file barforge can load (bf_model_load_params)."""
    flat = np.asarray(flat, dtype="<f4")
    js = config_json(cfg).encode()
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(PF_MAGIC + struct.pack("<IIq", 1, len(js), flat.size) + js + flat.tobytes())
        f.flush()
        import os
        os.fsync(f.fileno())
    import os
    os.replace(tmp, path)


def load_h5_checkpoint(path):
    """barforge HDF5 checkpoint: dataset /model/params, attribute /model config_json."""
    import h5py
    with h5py.File(path, "r") as f:
        text = f["model"].attrs["config_json"]
        if isinstance(text, bytes):
            text = text.decode()
        return parse_config_json(str(text)), np.asarray(f["model/params"][...], dtype=np.float32)
