"""Where a NIR conformance case loses quantized agreement: the NIR reading or quantization?

For a case of bench/nir_conformance.py (default: snnTorch RSynaptic, 94.6%) the float model
snncc read from the file (which reproduces the producer's spikes) is run again in float with
one parameter class at a time replaced by its quantized value (weights, recurrent weights,
decays, thresholds, neuron bias, synaptic-bias axon), then with all but one.  Per layer, the
spike agreement with the float model says which class costs what; "all classes" equal to the
integer simulator means the fixed-point arithmetic adds nothing beyond parameter rounding.
Dense (Affine) graphs only.

    python bench/nir_quant_gaps.py ["Affine, CubaLIF + recurrent Affine"]
"""
from __future__ import annotations

import copy
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLASSES = ("weight", "recurrent weight", "alpha", "beta", "threshold", "bias", "synaptic bias")


def _dequantized(lowered, fixed, scales: dict, classes: set):
    """``lowered`` with the parameter ``classes`` replaced by what the quantizer made of them
    (integers back in float units: weight LSB ``2**(exp+6)/S``, ``du``/``dv`` over 4096,
    ``vth*64/S``, bias mantissa and exponent over ``S``)."""
    from snncc.ir import Affine, CubaLIF
    from snncc.targets.loihi import fixedpoint as fx
    g = copy.deepcopy(lowered)
    for node in list(g.nodes()):
        if isinstance(node, CubaLIF):
            f, s = fixed.node(node.name), scales[node.name]
            kw = {}
            if "alpha" in classes:
                kw["alpha"] = (4096 - f.du - 1) / 4096.0
            if "beta" in classes:
                kw["beta"] = 1 - f.dv / 4096.0
            if "threshold" in classes:
                kw["threshold"] = f.vth * 64.0 / s
            if "bias" in classes:       # a Linear bias the quantizer put on the neuron with it
                kw["bias"] = fx.effective_bias(f.bias_mant, f.bias_exp) / s
                for a in g.inputs_of(node.name):
                    if isinstance(g.node(a), Affine) and g.node(a).bias is not None \
                            and a in fixed and fixed.node(a).bias is None:
                        g.replace(replace(g.node(a), bias=None))
            g.replace(replace(node, **kw))
        elif isinstance(node, Affine) and node.name in fixed:
            dst = g.consumers_of(node.name)[0]
            f, s = fixed.node(node.name), scales[dst]
            recurrent = node.name in g.recurrent_inputs_of(dst)
            kw = {}
            if ("recurrent weight" if recurrent else "weight") in classes:
                kw["weight"] = f.weight * 2.0 ** (f.weight_exp + 6) / s[:, None]
            if "synaptic bias" in classes and node.bias is not None and f.bias is not None:
                kw["bias"] = f.bias * 2.0 ** (f.bias_exp + 6) / s
            g.replace(replace(node, **kw))
    return g


def attribute(nodes: str) -> list[str]:
    """Lines of the attribution table for the conformance case named ``nodes``."""
    sys.path.insert(0, str(ROOT))
    from bench.nir_conformance import CASES, _x
    from snncc import api
    from snncc.backends.nir import read_nir
    from snncc.compiler import compile_graph
    from snncc.ir import CubaLIF
    from snncc.passes.float_sim import simulate_float
    import snncc.targets.loihi.quantize as quantize
    case = next(c for c in CASES if c.nodes == nodes)
    work = Path(tempfile.mkdtemp())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write, _, in_shape, _ = case.build()
        write(work / "m.nir")
    x = _x(in_shape)
    graph = read_nir(work / "m.nir", **case.opts)
    scales, choose = {}, quantize.choose_scale

    def spy(syns, modes, syn_bias, neuron, cfg):        # the per-neuron scales S it chose
        out = choose(syns, modes, syn_bias, neuron, cfg)
        scales[neuron.name] = out[0]
        return out
    quantize.choose_scale = spy
    try:
        compiled = compile_graph(graph)
    finally:
        quantize.choose_scale = choose
    layers = [n.name for n in compiled.lowered.nodes() if isinstance(n, CubaLIF)]

    def agree(classes):
        g = _dequantized(compiled.lowered, compiled.fixed, scales, set(classes))
        out = simulate_float(g, x)
        return "  ".join(f"{np.mean(out[n] == ref[n]):.2%}" for n in layers)
    ref = simulate_float(compiled.lowered, x)
    lines = [f"{case.producer} | {nodes} | layers: {', '.join(layers)}"]
    lines += [f"only {c:<18} {agree([c])}" for c in CLASSES]
    lines.append(f"{'all classes':<23} {agree(CLASSES)}")
    lines += [f"all but {c:<15} {agree(set(CLASSES) - {c})}" for c in CLASSES]
    np.savez(work / "x.npz", x=x.swapaxes(0, 1))
    report = api.verify(work / "m.nir", work / "x.npz", **case.opts).report
    lines.append(f"{'integer simulator':<23} " + "  ".join(
        f"{l['spike_agreement']:.2%}" for l in report["layers"]))
    return lines


if __name__ == "__main__":
    print("\n".join(attribute(sys.argv[1] if len(sys.argv) > 1 else
                              "Affine, CubaLIF + recurrent Affine")))
