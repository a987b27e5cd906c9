"""One model, two chips: verify it for Loihi and for Xylo and print the comparison table.

    python examples/xylo_compare.py examples/out-xylo/model.pt examples/out-xylo/inputs.npz \\
        --xylo-target xylo-audio3

Each row comes from ``snncc.api.verify`` on the same data (Loihi: snncc's bit-accurate
simulator; Xylo: snncc's Xylo simulator, checked value by value against xylosim on
``--check-samples`` samples) and from the target's resource estimate (``snncc inspect``).
The output is a Markdown table (docs/xylo.md holds one).
"""
from __future__ import annotations

import argparse

from snncc import api


def rows(model, data, xylo_target: str = "xylo-audio3", check_samples: int = 16) -> list[dict]:
    """One dict per chip: agreement, accuracy, bit-exactness against the vendor, resources."""
    out = []
    for target, backend in (("loihi", "sim"), (xylo_target, "xylosim")):
        rep = api.verify(model, data, target=target, backend=backend,
                         check_samples=check_samples).report
        s = rep["summary"]
        info = api.inspect(model, target=target)
        if target == "loihi":
            res = (f"{info.resources['cores']} Loihi 2 cores (estimate)"
                   if info.resources["fits"] else f"does not fit: {info.placement_error}")
            exact = "Lava: `snncc verify --backend lava`"
        else:
            r = {x["resource"]: x for x in info.placement.rows()}
            res = (f"{r['hidden neurons']['used']}/{r['hidden neurons']['available']} hidden, "
                   f"{r['readout neurons']['used']}/{r['readout neurons']['available']} readout neurons")
            bad = sum(l["spike_mismatches"] + l["u_mismatches"] + l["v_mismatches"]
                      for l in rep["bit_exact"]["layers"])
            exact = f"xylosim: {bad} mismatches on {rep['bit_exact']['samples']} samples"
        out.append({"chip": target, "output agreement": s["output_agreement"],
                    "prediction agreement": s["prediction_agreement"],
                    "accuracy float": s["accuracy_float"], "accuracy quantized": s["accuracy_quant"],
                    "vendor check": exact, "resources": res})
    return out


def markdown(table: list[dict]) -> str:
    cols = list(table[0])
    fmt = lambda v: f"{v:.2%}" if isinstance(v, float) else ("-" if v is None else str(v))
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in table]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--xylo-target", default="xylo-audio3")
    ap.add_argument("--check-samples", type=int, default=16)
    args = ap.parse_args(argv)
    print(markdown(rows(args.model, args.data, args.xylo_target, args.check_samples)))


if __name__ == "__main__":
    main()
