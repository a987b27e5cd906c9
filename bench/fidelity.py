#!/usr/bin/env python3
"""Fidelity bench: trained digits models of every framework family, float vs Loihi fixed point.

For each family of ``bench/fidelity_models.py`` (snnTorch Leaky/Synaptic/RLeaky, a
SpikingJelly multi-step conv net with batch-norm, Norse LIFBox, every snncc seed neuron, a
conv net and a SEW block) it trains a digits model (scikit-learn's 8x8 digits, rate coded,
offline), then measures on the 360 test samples:

* float accuracy;
* after post-training quantization (the default compile): output-spike agreement and
  quantized accuracy;
* after calibration on 256 training samples (``snncc compile --calibrate``): the same;
* where agreement stays below 99.5%: the cause error attribution names;
* after ``snncc finetune`` (when available): quantized accuracy of the tuned network.

Writes ``build/bench/fidelity.json`` and the table into ``docs/fidelity.md`` (between the
``fidelity-table`` markers).  Trained models are cached in ``build/bench/fidelity/``.
Usage: ``python bench/fidelity.py [--families snntorch-leaky,norse-lifbox] [--no-docs]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT), str(BENCH)]
import fidelity_models as fm  # noqa: E402

OUT = ROOT / "build" / "bench"
DOC = ROOT / "docs" / "fidelity.md"
BEGIN, END = "<!-- fidelity-table:begin -->", "<!-- fidelity-table:end -->"
GOAL = 0.995


def trained(family: fm.Family, T: int, epochs: int, data, log) -> torch.nn.Module:
    """The family's model trained on the digits training split (cached by name, T, epochs)."""
    cache = OUT / "fidelity" / f"{family.name}-T{T}-e{epochs}.pt"
    torch.manual_seed(0)
    model = family.build(T)
    if cache.exists():
        model.load_state_dict(torch.load(cache))
        model.eval()
        return model
    x_tr, y_tr = data[0], data[1]
    seconds = family_train(family, model, x_tr, y_tr, epochs, log)
    log(f"  trained {family.name} in {seconds:.0f} s")
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), cache)
    return model


def family_train(family, model, x, y, epochs, log):
    return fm.train(family, model, x, y, epochs, log=log)


def tuned(family: fm.Family, model, data, epochs: int, log, config=None, lr: float = 1e-3) -> dict:
    """Fine-tune through the exact arithmetic (from the calibrated settings ``config``, as
    ``snncc finetune`` does); quantized test accuracy of the tuned network and whether its
    fake-quant forward equals the simulator on every test sample."""
    from snncc.compiler import compile_model
    from snncc.finetune.fakequant import FakeQuant
    from snncc.finetune.train import FinetuneConfig, finetune
    from snncc.report.runs import output_layer, run_quantized
    x_tr, y_tr, x_te, y_te = data
    xs = np.ascontiguousarray(np.swapaxes(fm.shaped(x_tr, family), 0, 1))
    x = np.ascontiguousarray(np.swapaxes(fm.shaped(x_te, family), 0, 1))
    t0 = time.perf_counter()
    net, hist = finetune(model, xs, y_tr, FinetuneConfig(epochs=epochs, lr=lr),
                         input_shape=family.input_shape, config=config)
    c = compile_model(net)
    out = output_layer(c.fixed)
    q = run_quantized(c.fixed, x).spikes
    fq = FakeQuant(net[0])
    with torch.no_grad():
        fake = fq(torch.as_tensor(x, dtype=torch.float64), train=False)
    exact = all(np.array_equal(q[n], fake[n].numpy() > 0.5) for n in q)
    acc = float(np.mean(q[out].sum(axis=0).argmax(axis=1) == y_te))
    log(f"  {family.name}: finetuned quantized accuracy {acc:.4f} (fake-quant == simulator: "
        f"{exact}; {time.perf_counter() - t0:.0f} s)")
    return {"tuned_accuracy": acc, "tuned_bit_exact": exact, "tuned_loss": hist.loss,
            "tuned_epoch": hist.best_epoch}


def measure(family: fm.Family, model, data, cal_samples: int, attr_samples: int, log,
            finetune_epochs: int = 0) -> dict:
    from snncc.compiler import compile_model
    from snncc.report.attribution import attribute
    from snncc.targets.loihi.calibrate import calibrate
    from snncc.verify import verify
    x_tr, y_tr, x_te, y_te = data
    x = np.ascontiguousarray(np.swapaxes(fm.shaped(x_te, family), 0, 1))
    cal = np.ascontiguousarray(np.swapaxes(fm.shaped(x_tr[:cal_samples], family), 0, 1))
    row: dict = {"family": family.name, "framework": family.framework}
    t0 = time.perf_counter()
    c = compile_model(model, family.input_shape)
    r = verify(model, c, x, y_te)
    row.update(accuracy_float=r.accuracy_float, ptq_agreement=r.output_agreement,
               ptq_accuracy=r.accuracy_quant,
               fine_synapses=sum(l.fine_synapses for l in c.quant.layers))
    cc, calib = calibrate(model, cal, y_tr[:cal_samples], family.input_shape)
    rc = verify(model, cc, x, y_te)
    row.update(cal_agreement=rc.output_agreement, cal_accuracy=rc.accuracy_quant)
    best, which = (cc, "calibrated") if rc.output_agreement >= r.output_agreement else (c, "ptq")
    row["cause"] = None
    if max(r.output_agreement, rc.output_agreement) < GOAL:
        a = attribute(model, best, x, samples=attr_samples)
        row["cause"] = a["cause"]["text"]
        row["cause_class"], row["cause_layer"] = a["cause"]["class"], a["cause"]["layer"]
        row["attributed"] = which
    if finetune_epochs:
        row.update(tuned(family, model, data, finetune_epochs, log, calib.config))
    row["seconds"] = time.perf_counter() - t0
    log(f"  {family.name}: float {row['accuracy_float']:.4f}  ptq {row['ptq_agreement']:.4f} / "
        f"{row['ptq_accuracy']:.4f}  calibrated {row['cal_agreement']:.4f} / "
        f"{row['cal_accuracy']:.4f}" + (f"  cause: {row['cause']}" if row["cause"] else ""))
    return row


def table(rows: list[dict], meta: dict) -> str:
    head = ("| model | framework | float acc | PTQ agreement | PTQ acc | calibrated agreement | "
            "calibrated acc | finetuned acc | attribution (where < 99.5%) |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    tuned = lambda r: "-" if r.get("tuned_accuracy") is None else (  # noqa: E731
        pct(r["tuned_accuracy"]) + ("" if r.get("tuned_bit_exact") else " (NOT bit-exact)"))
    body = "".join(
        f"| {r['family']} | {r['framework']} | {pct(r['accuracy_float'])} | "
        f"{pct(r['ptq_agreement'])} | {pct(r['ptq_accuracy'])} | {pct(r['cal_agreement'])} | "
        f"{pct(r['cal_accuracy'])} | {tuned(r)} | {r['cause'] or ''} |\n" for r in rows)
    return (f"Measured with `python bench/fidelity.py` ({meta['date']}): digits, T = {meta['T']}, "
            f"{meta['epochs']} training epochs, {meta['test']} test samples, calibration on "
            f"{meta['cal_samples']} training samples, fine-tuning {meta['finetune_epochs']} "
            "epochs on the training split (fake-quant forward checked equal to the simulator "
            "on every test sample).\n\n" + head + body)


def write_doc(text: str) -> None:
    doc = DOC.read_text()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN) + len(BEGIN)] + "\n" + text + doc[doc.index(END):]
    else:
        doc += f"\n## Measured\n\n{BEGIN}\n{text}{END}\n"
    DOC.write_text(doc)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="", help="comma-separated names (default: all)")
    ap.add_argument("-T", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--cal-samples", type=int, default=256)
    ap.add_argument("--attr-samples", type=int, default=128)
    ap.add_argument("--finetune-epochs", type=int, default=6, help="0: skip fine-tuning")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/fidelity.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    log = lambda m: print(m, flush=True)  # noqa: E731
    names = [n for n in args.families.split(",") if n]
    families = [f for f in fm.FAMILIES if not names or f.name in names]
    unknown = set(names) - {f.name for f in fm.FAMILIES}
    if unknown:
        print(f"error: unknown families {sorted(unknown)}", file=sys.stderr)
        return 2
    data = fm.digits(args.T)
    rows = []
    for family in families:
        log(f"{family.name}")
        model = trained(family, args.T, args.epochs, data, log)
        rows.append(measure(family, model, data, args.cal_samples, args.attr_samples, log,
                            args.finetune_epochs))
    meta = {"date": time.strftime("%Y-%m-%d"), "T": args.T, "epochs": args.epochs,
            "test": int(len(data[3])), "cal_samples": args.cal_samples,
            "finetune_epochs": args.finetune_epochs}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fidelity.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    text = table(rows, meta)
    print(text)
    if not args.no_docs and not names:
        write_doc(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
