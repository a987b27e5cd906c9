#!/usr/bin/env python3
"""Train each seed neuron (PLIF, DA-LIF, KLIF, GLIF) on scikit-learn's digits, compile it, verify it.

Same data, architecture and training as ``examples/digits.py`` (``Linear(64, hidden) -> neuron ->
Linear(hidden, 10) -> neuron``, BPTT on rate-coded 8x8 digits), only the neuron type changes;
every neuron keeps its paper's defaults (initial values, surrogate).  For each neuron type it
writes (atomically) ``<out>/<neuron>/model.pt``: ``torch.save(model)`` of the ``nn.Sequential``,
which ``snncc compile <out>/<neuron>/model.pt`` takes as it is (no ``--trust`` needed).

For all of them it writes ``<out>/seed_table.md`` (and ``seed_table.json``): float test accuracy,
quantized (bit-accurate simulator) test accuracy, output-spike agreement, the mapping class of
the neuron layers, the agreement of the lowered float graph (100% = the lowering is exact) and,
with ``--lava-samples N``, the spike/u/v mismatches between the simulator and real Lava on the
first N test samples.  The seed-neuron table of docs/concepts/neurons.md is this file.

Usage: ``python examples/train_seed_neurons.py --out examples/out/seed [--lava-samples 8]``
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

if __package__ in (None, ""):          # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import snncc.nn as snn  # noqa: E402
from examples.digits import N_IN, N_OUT, TrainConfig, evaluate, load_digits_spikes, train  # noqa: E402
from snncc.atomic import atomic_file  # noqa: E402
from snncc.compiler import compile_model  # noqa: E402
from snncc.errors import SnnccError  # noqa: E402
from snncc.passes.float_sim import simulate_float  # noqa: E402
from snncc.reference import run_float  # noqa: E402
from snncc.verify import verify  # noqa: E402

# paper defaults: PLIF init_tau=2, DA-LIF tau_a=tau_b=2, KLIF tau=2 / k=1, GLIF official init
NEURONS: dict[str, Callable[[int, int], nn.Module]] = {
    "plif": lambda n, T: snn.PLIF(n),
    "dalif": lambda n, T: snn.DALIF(n),
    "klif": lambda n, T: snn.KLIF(n),
    "glif": lambda n, T: snn.GLIF(n, T=T),
    # variants: binarised gates (the code's "hard mode"); one conduct per channel for all steps
    "glif_hard": lambda n, T: snn.GLIF(n, T=T, gates="hard"),
    "glif_tied": lambda n, T: snn.GLIF(n, T=T, tie_conduct=True),
}
DEFAULT_NEURONS = ["plif", "dalif", "klif", "glif", "glif_hard", "glif_tied"]


def build(neuron: str, hidden: int, T: int, seed: int) -> nn.Sequential:
    """The digits MLP (``examples.digits.build_mlp``'s architecture) with a seed neuron."""
    torch.manual_seed(seed)
    make = NEURONS[neuron]
    return nn.Sequential(nn.Linear(N_IN, hidden), make(hidden, T),
                         nn.Linear(hidden, N_OUT), make(N_OUT, T))


def compile_and_verify(model: nn.Module, x_te: np.ndarray, y_te: np.ndarray,
                       lava_samples: int = 0) -> dict:
    """Quantize ``model`` and compare the fixed-point simulator with the float model on the test
    set (and, for ``lava_samples`` > 0, the simulator with real Lava on that many samples)."""
    try:
        compiled = compile_model(model)
    except SnnccError as exc:
        return {"error": str(exc)}
    stimulus = np.ascontiguousarray(np.transpose(x_te, (1, 0, 2)))       # (T, samples, 64)
    rep = verify(model, compiled, stimulus, labels=y_te, backend="lava" if lava_samples else "sim",
                 cross_check_samples=lava_samples)
    mappings = sorted({row.mapping for row in compiled.mapping})
    # the lowering alone (float canonical graph, no quantization) against the torch model:
    # 100% wherever the mapping is exact; below it only where a layer is approximate
    out_layer = compiled.lowered.inputs_of(compiled.lowered.output_names[0])[0]
    lowered = simulate_float(compiled.lowered, stimulus)[out_layer]
    reference = run_float(model, stimulus, [out_layer])[out_layer]
    return {"quant_accuracy": rep.accuracy_quant, "float_accuracy_verify": rep.accuracy_float,
            "output_agreement": rep.output_agreement,
            "lowered_float_agreement": float(np.mean(lowered == reference)),
            "prediction_agreement": rep.prediction_agreement,
            "layer_agreement": {l.name: l.spike_agreement for l in rep.layers},
            "mapping": " / ".join(mappings),
            "mapping_notes": {row.name: row.note for row in compiled.mapping},
            "lava_samples": rep.bit_exact_samples,
            "lava_mismatches": (sum(l.spike_mismatches + l.u_mismatches + l.v_mismatches
                                    for l in rep.bit_exact) if rep.bit_exact else None)}


def table(rows: list[dict]) -> str:
    lava = any(r.get("lava_mismatches") is not None for r in rows)
    head = ["neuron", "float acc", "quantized acc", "output agreement", "mapping",
            "lowered-float agreement"] + (["Lava mismatches (s/u/v)"] if lava else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        if "error" in r:
            cells = [r["neuron"], f"{100 * r['float_accuracy']:.2f}%", "--", "--",
                     f"not compilable: {r['error']}", "--"] + (["--"] if lava else [])
        else:
            cells = [r["neuron"], f"{100 * r['float_accuracy']:.2f}%",
                     f"{100 * r['quant_accuracy']:.2f}%", f"{100 * r['output_agreement']:.2f}%",
                     r["mapping"], f"{100 * r['lowered_float_agreement']:.2f}%"]
            if lava:
                cells.append(f"{r['lava_mismatches']} ({r['lava_samples']} samples)")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + (
        "\noutput agreement: output spikes (step, sample, neuron) equal between the float model "
        "and the bit-accurate fixed-point simulator on the test set.  lowered-float agreement: "
        "the same for the lowered canonical float graph (no quantization): 100% means the "
        "lowering is exact." + (" Lava mismatches: spikes, u and v of every layer that differ "
                                "between the simulator and real Lava (fixed_pt)." if lava else "")
        + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="examples/out/seed", help="output directory (default %(default)s)")
    ap.add_argument("--neurons", nargs="+", choices=sorted(NEURONS), default=DEFAULT_NEURONS)
    ap.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    ap.add_argument("--steps", "-T", dest="steps", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--lava-samples", type=int, default=0,
                    help="cross-check this many test samples on real Lava (needs .venv-lava)")
    args = ap.parse_args(argv)
    if args.epochs < 0 or args.steps < 1 or args.hidden < 1 or args.lava_samples < 0:
        ap.error("--epochs and --lava-samples must be >= 0, --steps and --hidden >= 1")

    torch.set_num_threads(args.threads)
    # GLIF with hard gates decays membranes geometrically into subnormal floats, which the CPU
    # computes ~10x slower; flushing them to zero changes no spike (thresholds are ~0.5)
    torch.set_flush_denormal(True)
    out = Path(args.out)
    x_tr, y_tr, x_te, y_te = load_digits_spikes(args.steps, args.seed)
    print(f"digits: {len(x_tr)} train / {len(x_te)} test samples, T={args.steps}")
    rows = []
    for name in args.neurons:
        start = time.perf_counter()
        model = build(name, args.hidden, args.steps, args.seed)
        cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
        print(f"--- {name}: {model[1]}")
        hist = train(model, x_tr, y_tr, cfg,
                     log=lambda msg: print("   ", msg) if msg.startswith("epoch") else None)
        acc = evaluate(model, x_te, y_te)
        with atomic_file(out / name / "model.pt") as tmp:
            torch.save(model, tmp)
        row = {"neuron": name, "float_accuracy": acc, "train_seconds": round(hist.seconds, 1)}
        row.update(compile_and_verify(model, x_te, y_te, args.lava_samples))
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(f"    float {acc:.4f}  " + (f"quantized {row['quant_accuracy']:.4f}  agreement "
              f"{row['output_agreement']:.4f}  {row['mapping']}" if "error" not in row
              else f"not compilable: {row['error']}")
              + (f"  Lava mismatches {row['lava_mismatches']}" if row.get("lava_mismatches")
                 is not None else "") + f"  ({row['seconds']} s)")
    md = table(rows)
    with atomic_file(out / "seed_table.md") as tmp:
        tmp.write_text(f"Seed neurons on digits (T={args.steps}, hidden={args.hidden}, "
                       f"{args.epochs} epochs, seed {args.seed})\n\n" + md)
    with atomic_file(out / "seed_table.json") as tmp:
        tmp.write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2) + "\n")
    print(md)
    print(f"wrote {out / 'seed_table.md'} and <neuron>/model.pt for {', '.join(args.neurons)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
