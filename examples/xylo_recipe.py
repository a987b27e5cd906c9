"""What each step of the Xylo recipe brings, and where the rest is lost: the tables of
docs/xylo.md.

    python examples/xylo_recipe.py --seeds 0 1 2

For every seed, the digits example (:mod:`xylo_digits`) is trained three ways, each compiled
for Xylo Audio 3 and verified on the test set as ``snncc verify`` does:

* ``decays on dash``: single-spike hidden neurons, decays snapped to dash values, plain
  float fine-tuning (the recipe's first step only);
* ``+ multi-spike``: hidden neurons fire Xylo's spike counts (``max_spikes=31``);
* ``+ weight grid``: fine-tuned on Xylo's 8-bit grid and projected onto it (the recipe);
* ``+ calibrate``: the recipe's model compiled with ``--calibrate`` on the training set.

The second table attributes the recipe model's remaining disagreement to its causes
(:mod:`snncc.targets.xylo.attribution`): the output agreement with only that cause as Xylo
computes it.  Prints Markdown.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import xylo_digits  # noqa: E402

from snncc import api  # noqa: E402
from snncc.targets.xylo.attribution import CAUSES, attribute  # noqa: E402

CHIP = "xylo-audio3"
VARIANTS = (("decays on dash", dict(hidden_spikes=1, grid=False)),
            ("+ multi-spike", dict(grid=False)),
            ("+ weight grid", {}))


def measure(seed: int, work: Path) -> tuple[list[dict], dict]:
    """Rows of the recipe table and the attribution of the recipe's model, for one seed."""
    rows, recipe = [], None
    for label, options in VARIANTS:
        model, (x_tr, y_tr, x_te, y_te), _ = xylo_digits.train(seed=seed, chip=CHIP, log=None,
                                                               **options)
        np.savez(work / "test.npz", x=x_te, y=y_te)
        np.savez(work / "train.npz", x=x_tr, y=y_tr)
        rep = api.verify(model, work / "test.npz", target=CHIP).report["summary"]
        rows.append({"seed": seed, "model": label, "output agreement": rep["output_agreement"],
                     "prediction agreement": rep["prediction_agreement"],
                     "accuracy float": rep["accuracy_float"],
                     "accuracy Xylo": rep["accuracy_quant"]})
        recipe = model
    rep = api.verify(recipe, work / "test.npz", target=CHIP, calibrate=work / "train.npz").report
    rows.append({"seed": seed, "model": "+ calibrate", **{
        k: rep["summary"][v] for k, v in (("output agreement", "output_agreement"),
                                          ("prediction agreement", "prediction_agreement"),
                                          ("accuracy float", "accuracy_float"),
                                          ("accuracy Xylo", "accuracy_quant"))}})
    x = np.moveaxis(np.load(work / "test.npz")["x"], 1, 0).astype(np.float64)
    compiled = api.compile(recipe, target=CHIP).compiled
    att = attribute(recipe, compiled, x)
    out = att.layers[-1]
    causes = {"seed": seed, "all (Xylo)": att.xylo[out],
              **{c: att.alone[c][out] for c in CAUSES}}
    return rows, causes


def markdown(table: list[dict]) -> str:
    cols = list(table[0])
    fmt = lambda v: f"{v:.2%}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in table]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)         # small batches: one thread is fastest on shared cores
    rows, causes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            r, c = measure(seed, Path(tmp))
            rows += r
            causes.append(c)
    print(markdown(rows))
    print()
    print(markdown(causes))


if __name__ == "__main__":
    main()
