#!/usr/bin/env python3
"""Train a small LIF MLP on scikit-learn's 8x8 digits and save what snncc compiles.

Writes into ``--out`` (each file atomically):

* ``model.pt``     ``torch.save(model)``: an ``nn.Sequential`` of ``nn.Linear`` and
  ``snncc.nn`` neurons, one time step per call; load with ``torch.load(..., weights_only=False)``;
* ``inputs.npz``   the test split: ``x`` uint8 spikes (samples, T, 64), ``y`` int64 labels;
* ``metrics.json`` float test accuracy and the run's settings.

Usage: ``python examples/train_digits_mlp.py --out examples/out``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):          # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.digits import TrainConfig, build_mlp, evaluate, load_digits_spikes, train  # noqa: E402
from snncc.atomic import atomic_file  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="examples/out", help="output directory (default %(default)s)")
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--steps", "-T", dest="steps", type=int, default=16,
                    help="time steps per sample (default %(default)s)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0,
                    help="seeds the spike encoding, weight init and shuffling")
    ap.add_argument("--neuron", choices=("lif", "cuba"), default="lif")
    ap.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.epochs < 0 or args.steps < 1 or args.hidden < 1:
        ap.error("--epochs must be >= 0, --steps and --hidden >= 1")

    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    x_tr, y_tr, x_te, y_te = load_digits_spikes(args.steps, args.seed)
    print(f"digits: {len(x_tr)} train / {len(x_te)} test samples, T={args.steps}, "
          f"spike rate {x_tr.mean():.3f}")
    model = build_mlp(args.hidden, args.neuron, seed=args.seed)
    print(model)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    hist = train(model, x_tr, y_tr, cfg, x_te, y_te)
    acc = evaluate(model, x_te, y_te)
    print(f"final float test accuracy: {acc:.4f} ({hist.seconds:.1f} s training)")

    out = Path(args.out)
    with atomic_file(out / "model.pt") as tmp:
        torch.save(model, tmp)
    with atomic_file(out / "inputs.npz") as tmp:
        np.savez_compressed(tmp, x=x_te.astype(np.uint8), y=y_te.astype(np.int64))
    metrics = {
        "float_test_accuracy": acc,
        "test_samples": int(len(y_te)),
        "steps": args.steps, "hidden": args.hidden, "neuron": args.neuron,
        "epochs": args.epochs, "seed": args.seed,
        "train_seconds": round(hist.seconds, 3),
        "total_seconds": round(time.perf_counter() - start, 3),
        "history": {"loss": hist.loss, "train_accuracy": hist.train_acc,
                    "test_accuracy": hist.test_acc},
    }
    with atomic_file(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {out / 'model.pt'}, {out / 'inputs.npz'}, {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
