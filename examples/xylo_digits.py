"""Train a digits SNN for SynSense Xylo (16 input channels), compile it, verify it.

scikit-learn's 8x8 digits are pooled 2x2 (sum of four pixels) to 4x4 = 16 channels and rate
coded (probability ``sum / 64`` per step).  The model is
``Linear(16, H) -> CubaLIF(H) -> Linear(H, 10) -> CubaLIF(10)`` with per-neuron learned
current and voltage decays and thresholds, subtractive reset and no Linear biases (Xylo's
neuron, :mod:`snncc.targets.xylo.fixedpoint`).  Training is in two phases: free decays, then
every decay is moved to its nearest Xylo dash value (``1 - 2**-dash``; still one per
neuron) and the weights and thresholds are fine-tuned with the decays frozen.

    python examples/xylo_digits.py --out examples/out-xylo
    snncc compile examples/out-xylo/model.pt --target xylo-audio3 -o build/xylo-digits
    snncc verify examples/out-xylo/model.pt --target xylo-audio3 --backend xylosim \\
        --data examples/out-xylo/inputs.npz
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import digits  # noqa: E402

import snncc.nn as snn  # noqa: E402

N_IN = 16


def pool_digits(x: np.ndarray) -> np.ndarray:
    """(samples, 64) pixel intensities 0..16 -> (samples, 16) probabilities (2x2 sums / 64)."""
    img = np.asarray(x, np.float64).reshape(-1, 4, 2, 4, 2)
    return img.sum(axis=(2, 4)).reshape(-1, N_IN) / 64.0


def load_pooled_digits(T: int = 16, seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: uint8 spikes (samples, T, 16), int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    p_tr, p_te, y_tr, y_te = train_test_split(pool_digits(d.data), d.target.astype(np.int64),
                                              test_size=digits.TEST_SIZE,
                                              random_state=digits.SPLIT_SEED)
    rng_tr, rng_te = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    return digits.encode(p_tr, T, rng_tr), y_tr, digits.encode(p_te, T, rng_te), y_te


def build_model(hidden: int = 64, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    kw = dict(alpha=0.75, beta=0.875, reset="subtract")
    return nn.Sequential(nn.Linear(N_IN, hidden, bias=False), snn.CubaLIF(hidden, **kw),
                         nn.Linear(hidden, 10, bias=False), snn.CubaLIF(10, **kw))


@torch.no_grad()
def snap_decays(model: nn.Module) -> None:
    """Move every neuron's decays to the nearest Xylo dash value and freeze them
    (``alpha``: dash_syn >= 1, ``beta``: dash_mem >= 0; the quantizer's own rule)."""
    from snncc.targets.xylo.quantize import _dash, dash_decay
    for m in model.modules():
        if isinstance(m, snn.CubaLIF):
            for name, lo in (("alpha", 1), ("beta", 0)):
                p = getattr(m, name)
                p.copy_(torch.as_tensor(dash_decay(_dash(p.clamp(0, 1).numpy(), lo)),
                                        dtype=p.dtype))
                p.requires_grad_(False)


def fit(model: nn.Sequential, x: np.ndarray, y: np.ndarray, epochs: int, lr: float,
        penalty: float = 1.0, seed: int = 0, log=print) -> None:
    """BPTT with cross-entropy on output counts (as :func:`digits.train`) plus ``penalty`` x
    the mean membrane left at or above the threshold after a hidden neuron's reset: Xylo's
    hidden neurons fire again in that same step (up to 31 spikes), the float neuron does not."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    xs, ys = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    hidden = [m for m in model[:-1] if isinstance(m, snn.CubaLIF)]
    for epoch in range(epochs):
        perm, total = torch.randperm(len(xs), generator=gen), 0.0
        for i in range(0, len(xs), 64):
            xb, yb = xs[perm[i:i + 64]], ys[perm[i:i + 64]]
            snn.reset(model)
            counts, extra = 0.0, 0.0
            for t in range(xb.shape[1]):
                counts = counts + model(xb[:, t])
                extra = extra + sum(torch.relu(m.v - m.effective_threshold()).mean()
                                    for m in hidden)
            loss = nn.functional.cross_entropy(counts / xb.shape[1] * 10.0, yb)
            loss = loss + penalty * extra / xb.shape[1]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            digits._clamp_neurons(model, digits.MIN_THRESHOLD)
            total += float(loss.detach()) * len(yb)
        snn.reset(model)
        if log:
            log(f"epoch {epoch + 1}/{epochs} loss {total / len(xs):.4f}")


def train(hidden: int = 64, epochs: int = 15, finetune: int = 5, T: int = 16, seed: int = 0,
          log=print):
    """Train, snap decays to dash values, fine-tune; returns (model, data, accuracy)."""
    x_tr, y_tr, x_te, y_te = load_pooled_digits(T, seed)
    model = build_model(hidden, seed)
    fit(model, x_tr, y_tr, epochs, 2e-3, seed=seed, log=log)
    snap_decays(model)
    fit(model, x_tr, y_tr, finetune, 5e-4, seed=seed + 1, log=log)
    model.eval()
    return model, (x_tr, y_tr, x_te, y_te), digits.evaluate(model, x_te, y_te)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("examples/out-xylo"))
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args(argv)
    model, (_, _, x_te, y_te), acc = train(args.hidden, args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model, args.out / "model.pt")
    np.savez(args.out / "inputs.npz", x=x_te, y=y_te)
    print(f"float test accuracy {acc:.4f}; wrote {args.out}/model.pt and inputs.npz")


if __name__ == "__main__":
    main()
