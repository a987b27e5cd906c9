"""Train a digits SNN for SynSense Xylo (16 input channels), compile it, verify it.

scikit-learn's 8x8 digits are pooled 2x2 (sum of four pixels) to 4x4 = 16 channels and rate
coded (probability ``sum / 64`` per step).  The model is
``Linear(16, H) -> CubaLIF(H, max_spikes=31) -> Linear(H, 10) -> CubaLIF(10)`` with
per-neuron learned current and voltage decays and thresholds, subtractive reset and no
Linear biases.  It follows the Xylo recipe of ``docs/xylo.md``
(:mod:`snncc.targets.xylo.train`):

1. hidden neurons fire Xylo's spike counts (``max_spikes=31``), the readout one spike per
   step, as the chip does; train with free decays;
2. every decay moves to its nearest Xylo dash value (``1 - 2**-dash``, still one per neuron)
   and freezes;
3. fine-tune with the weights on Xylo's 8-bit grid (fake quantization, straight-through
   gradients), the grid recomputed every epoch; project onto the final grid.

    python examples/xylo_digits.py --out examples/out-xylo
    snncc compile examples/out-xylo/model.pt --target xylo-audio3 -o build/xylo-digits
    snncc verify examples/out-xylo/model.pt --target xylo-audio3 --backend xylosim \\
        --data examples/out-xylo/inputs.npz
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import digits  # noqa: E402

import snncc.nn as snn  # noqa: E402
from snncc.targets.xylo import train as xylo_train  # noqa: E402
from snncc.targets.xylo.fixedpoint import MAX_HIDDEN_SPIKES  # noqa: E402

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


def build_model(hidden: int = 64, seed: int = 0,
                hidden_spikes: int = MAX_HIDDEN_SPIKES) -> nn.Sequential:
    torch.manual_seed(seed)
    kw = dict(alpha=0.75, beta=0.875, reset="subtract")
    return nn.Sequential(nn.Linear(N_IN, hidden, bias=False),
                         snn.CubaLIF(hidden, max_spikes=hidden_spikes, **kw),
                         nn.Linear(hidden, 10, bias=False), snn.CubaLIF(10, **kw))


def fit(model: nn.Sequential, x: np.ndarray, y: np.ndarray, epochs: int, lr: float,
        seed: int = 0, chip: str | None = None, log=print) -> None:
    """BPTT with cross-entropy on output counts (as :func:`digits.train`).  With ``chip``,
    every batch runs on the chip's weight grid (:func:`snncc.targets.xylo.train.fake_quant`),
    the grid recomputed at the start of every epoch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    xs, ys = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    for epoch in range(epochs):
        grid = xylo_train.weight_grid(model, chip) if chip else None
        perm, total = torch.randperm(len(xs), generator=gen), 0.0
        for i in range(0, len(xs), 64):
            xb, yb = xs[perm[i:i + 64]], ys[perm[i:i + 64]]
            with xylo_train.fake_quant(model, grid) if grid else contextlib.nullcontext():
                snn.reset(model)
                counts = sum(model(xb[:, t]) for t in range(xb.shape[1]))
                loss = nn.functional.cross_entropy(counts / xb.shape[1] * 10.0, yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
            opt.step()
            digits._clamp_neurons(model, digits.MIN_THRESHOLD)
            total += float(loss.detach()) * len(yb)
        snn.reset(model)
        if log:
            log(f"epoch {epoch + 1}/{epochs} loss {total / len(xs):.4f}")


def train(hidden: int = 64, epochs: int = 15, finetune: int = 5, T: int = 16, seed: int = 0,
          chip: str = "xylo-audio3", hidden_spikes: int = MAX_HIDDEN_SPIKES, grid: bool = True,
          log=print):
    """The recipe: train, snap decays to dash values, fine-tune on ``chip``'s weight grid,
    project; returns (model, data, float test accuracy).  ``hidden_spikes=1`` (single-spike
    hidden neurons) and ``grid=False`` (plain float fine-tuning) leave out those steps, to
    measure what each brings (``examples/xylo_recipe.py``)."""
    x_tr, y_tr, x_te, y_te = load_pooled_digits(T, seed)
    model = build_model(hidden, seed, hidden_spikes)
    fit(model, x_tr, y_tr, epochs, 2e-3, seed=seed, log=log)
    xylo_train.snap_decays(model)
    fit(model, x_tr, y_tr, finetune, 5e-4, seed=seed + 1, chip=chip if grid else None, log=log)
    if grid:
        xylo_train.project(model, xylo_train.weight_grid(model, chip))
    model.eval()
    return model, (x_tr, y_tr, x_te, y_te), digits.evaluate(model, x_te, y_te)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("examples/out-xylo"))
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--finetune", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chip", default="xylo-audio3")
    ap.add_argument("--hidden-spikes", type=int, default=MAX_HIDDEN_SPIKES,
                    help="max_spikes of the hidden neurons (1: single-spike, runs on Loihi too)")
    ap.add_argument("--no-grid", action="store_true", help="fine-tune in plain float")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)         # small batches: one thread is fastest on shared cores
    model, (x_tr, y_tr, x_te, y_te), acc = train(args.hidden, args.epochs, args.finetune,
                                                 seed=args.seed, chip=args.chip,
                                                 hidden_spikes=args.hidden_spikes,
                                                 grid=not args.no_grid)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model, args.out / "model.pt")
    np.savez(args.out / "inputs.npz", x=x_te, y=y_te)
    np.savez(args.out / "train.npz", x=x_tr, y=y_tr)
    print(f"float test accuracy {acc:.4f}; wrote {args.out}/model.pt, inputs.npz (test set) "
          "and train.npz (for --calibrate)")


if __name__ == "__main__":
    main()
