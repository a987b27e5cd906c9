#!/usr/bin/env python3
"""PilotNet LIF on Loihi 2: snncc's mapper and time/energy model against Intel's numbers.

The anchors are lava-dl's PilotNet LIF tutorial notebooks (lava-dl main,
``tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb``), which print Intel's compiler
output and measurements on a Loihi 2 (Oheo Gulch) board:

* the per-core table (:data:`PUBLISHED_TABLE`, 74 cores);
* 408.91 frames/s at 16 steps per frame, 0.679234 W total, 0.232078 W static,
  1.661103 mJ per inference (:data:`ANCHOR`), with the frame held on chip as the input
  layer's bias (no host I/O while it runs).

The network is rebuilt here from its shapes (lava-dl's ``gts/pilotnet_lif/network.net``,
printed by the same notebook): input 3x66x200 LIF neurons driven by bias, five convs, four
dense layers.  Weights are synthetic with the file's value ranges (each layer's weights are
even integers in the file's range), unless ``--netx`` points at the file.  Per-layer firing
rates (:data:`RATES`) are lava-dl's own recorded spikes of that network
(``tests/lava/lib/dl/netx/gts/pilotnet_lif/*.npy``, 24 steps, one frame).

Usage: ``.venv/bin/python bench/loihi2_pilotnet.py [--netx network.net] [--json out.json]``
prints the layer table side by side with Intel's, the predicted frames/s and energy per
inference against the anchor, and the coefficient of the time model fitted to it
(``--fit``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snncc.ir import FxDense, FxNeuron, Graph, Output  # noqa: E402
from snncc.ir.fixed_spatial import FxConv  # noqa: E402

# lava-dl pilotnet_snn/benchmark.ipynb, "Per core distribution" (Intel's compiler), in
# network order: layer -> (cores, neurons per core, SynMem words, AxonIn, AxonMap)
PUBLISHED_TABLE = {
    "input": (13, 3168, 0, 1, 1015),
    "conv1": (25, 3072, 81, 2, 253),
    "conv2": (13, 2160, 864, 2, 113),
    "conv3": (3, 2688, 1620, 2, 112),
    "conv4": (3, 2048, 2160, 1, 29),
    "conv5": (2, 2048, 2880, 1, 1280),
    "fc1": (12, 8, 7253, 2560, 8),
    "fc2": (1, 50, 1300, 100, 50),
    "fc3": (1, 10, 150, 50, 10),
    "fc4": (1, 1, 10, 10, 1),
}
PUBLISHED_CORES = 74

# the same notebook's measurements (Loihi 2, one chip, the frame as the input layer's bias)
ANCHOR = {"fps": 408.91, "steps_per_frame": 16, "total_power_w": 0.679234,
          "static_power_w": 0.232078, "dynamic_power_w": 0.447156,
          "energy_per_inference_mj": 1.661103, "dynamic_energy_per_inference_mj": 1.093544}

# spikes per neuron per step of each layer, from lava-dl's recorded ground truth of this
# network (gts/pilotnet_lif/{input,conv-0..4,fc-0..2}.npy: spike sums / neurons / 24 steps)
RATES = {"input": 0.8871, "conv1": 0.0915, "conv2": 0.1003, "conv3": 0.1201,
         "conv4": 0.1078, "conv5": 0.1102, "fc1": 0.0942, "fc2": 0.0408, "fc3": 0.0333,
         "fc4": 0.0}

# (name, C_out, kernel, stride (H, W), padding (H, W), even weight range of the file)
CONVS = [("conv1", 24, 3, (2, 2), (0, 0), (-20, 18)), ("conv2", 36, 3, (2, 2), (0, 0), (-12, 10)),
         ("conv3", 48, 3, (2, 2), (0, 0), (-10, 8)), ("conv4", 64, 3, (2, 1), (1, 0), (-8, 8)),
         ("conv5", 64, 3, (1, 1), (0, 0), (-8, 8))]
DENSES = [("fc1", 100, (-6, 6)), ("fc2", 50, (-14, 10)), ("fc3", 10, (-24, 20)),
          ("fc4", 1, (-24, 42))]
INPUT_SHAPE = (3, 66, 200)


def _neuron(name: str, shape, bias: np.ndarray) -> FxNeuron:
    """netx's LIF of this network: shared decays (du 4095, dv 1024) and threshold, a bias
    per neuron (the frame for the input layer, per channel for the convs)."""
    n = int(np.prod(shape))
    full = lambda v: np.full(n, v, dtype=np.int64)  # noqa: E731
    return FxNeuron(name, shape=tuple(shape), du=full(4095), dv=full(1024), vth=full(25),
                    bias_mant=np.asarray(bias, np.int64).reshape(-1)[:n].copy()
                    if np.size(bias) == n else np.broadcast_to(bias, (n,)).astype(np.int64).copy(),
                    bias_exp=full(0), reset_mult=full(0), reset_sub=full(0))


def _weights(rng, shape, lo_hi, netx: Optional[dict], name: str) -> np.ndarray:
    if netx is not None:
        return np.asarray(netx[name], dtype=np.int64).reshape(shape)
    lo, hi = lo_hi
    return rng.integers(lo // 2, hi // 2 + 1, size=shape) * 2


def read_netx_weights(path: Path) -> dict:
    """The weights of lava-dl's PilotNet LIF file by snncc layer name (needs h5py)."""
    import h5py
    names = {1: "conv1", 2: "conv2", 3: "conv3", 4: "conv4", 5: "conv5", 7: "fc1", 8: "fc2",
             9: "fc3", 10: "fc4"}
    with h5py.File(path, "r") as f:
        return {names[i]: np.asarray(f["layer"][str(i)]["weight"][()]) for i in names}


def build_pilotnet(seed: int = 0, netx: Optional[dict] = None) -> Graph:
    """PilotNet LIF as an snncc fixed-point graph, (C, H, W) layout; no host input: the
    frame sits in the input layer's bias, as in the benchmark."""
    rng = np.random.default_rng(seed)
    g = Graph()
    g.add(_neuron("input", INPUT_SHAPE, rng.integers(0, 64, int(np.prod(INPUT_SHAPE)))))
    prev, shape = "input", INPUT_SHAPE
    for name, c_out, k, stride, pad, rng_w in CONVS:
        w = _weights(rng, (c_out, shape[0], k, k), rng_w, netx, name)
        conv = g.add(FxConv(f"{name}.syn", weight=w, stride=stride, padding=pad,
                            in_shape=shape), [prev])
        shape = conv.out_shape
        bias = np.repeat(rng.integers(-8, 8, c_out), shape[1] * shape[2])
        g.add(_neuron(name, shape, bias), [f"{name}.syn"])
        prev = name
    n_in = int(np.prod(shape))
    for name, n, rng_w in DENSES:
        w = _weights(rng, (n, n_in), rng_w, netx, name)
        g.add(FxDense(f"{name}.syn", weight=w), [prev])
        g.add(_neuron(name, (n,), rng.integers(-4, 8, n)), [f"{name}.syn"])
        prev, n_in = name, n
    g.add(Output("output"), [prev])
    return g


def compare_table(placement) -> list[dict]:
    """Per layer: snncc's cores, neurons per core (the nominal tile), SynMem words and output
    axons (means over the layer's cores, as Intel's table: its fc1 7,253 = (11 x 7,680 +
    2,560) / 12) and input axons, beside Intel's table."""
    from snncc.targets.loihi.mapping import layer_rows
    rows = []
    for r in layer_rows(placement):
        pub = PUBLISHED_TABLE[r["layer"]]
        cores = placement.layer(r["layer"]).core_range()
        mean = lambda key: float(np.mean([getattr(placement.core_list[i].tile, key)  # noqa: E731
                                          for i in cores]))
        rows.append({"layer": r["layer"], "cores": r["cores"], "published_cores": pub[0],
                     "neurons_per_core": r["neurons_per_core"], "published_neurons": pub[1],
                     "synapse_words": mean("words"), "published_words": pub[2],
                     "axons_in": r["axons_in"], "published_axons_in": pub[3],
                     "axons_out": mean("axons_out"), "published_axon_map": pub[4]})
    return rows


def rates_from_gts(directory: Path) -> dict:
    """Per-layer spikes per neuron per step from lava-dl's recorded ground truth
    (``gts/pilotnet_lif``: ``input.npy``, ``conv-0..4.npy``, ``fc-0..2.npy``, bool (..., T))."""
    files = {"input": "input", "conv1": "conv-0", "conv2": "conv-1", "conv3": "conv-2",
             "conv4": "conv-3", "conv5": "conv-4", "fc1": "fc-0", "fc2": "fc-1", "fc3": "fc-2"}
    out = {}
    for layer, stem in files.items():
        s = np.load(directory / f"{stem}.npy")
        out[layer] = float(s.sum() / s.size)
    out["fc4"] = 0.0
    return out


def predict(placement, rates: Optional[dict] = None, costs=None):
    """The time/energy estimate of one PilotNet LIF inference (16 steps) at ``rates``."""
    from snncc.targets.loihi.energy import LOIHI2_COSTS, Activity, estimate
    activity = Activity(dict(rates or RATES), source="lava-dl's recorded PilotNet LIF spikes")
    return estimate(placement, activity, ANCHOR["steps_per_frame"], costs or LOIHI2_COSTS)


def fit_speed(placement, rates: Optional[dict] = None) -> float:
    """The ``speed`` coefficient that makes the predicted frames/s equal the anchor's."""
    from dataclasses import replace
    from snncc.targets.loihi.energy import LOIHI2_COSTS
    e = predict(placement, rates, replace(LOIHI2_COSTS, speed=1.0))
    target = 1.0 / (ANCHOR["fps"] * ANCHOR["steps_per_frame"])
    fixed = e.barrier_s + e.host_io_s
    return (target - fixed) / (e.step_time_s - fixed)


def agreement(placement, rates: Optional[dict] = None) -> dict:
    """Predicted vs published frames/s and energy per inference (relative errors)."""
    e = predict(placement, rates)
    fps, mj = e.inferences_per_s, e.energy_per_inference_j * 1e3
    dyn = e.dynamic_energy_j * e.steps * 1e3
    return {"fps": fps, "fps_error": fps / ANCHOR["fps"] - 1,
            "energy_mj": mj, "energy_error": mj / ANCHOR["energy_per_inference_mj"] - 1,
            "dynamic_energy_mj": dyn,
            "dynamic_error": dyn / ANCHOR["dynamic_energy_per_inference_mj"] - 1,
            "bound": e.bound, "busiest_core_layer": placement.core_list[
                int(e.core_time_s.argmax())].tile.layer, "estimate": e.to_dict()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--netx", type=Path, help="lava-dl's pilotnet_lif network.net")
    parser.add_argument("--gts", type=Path, help="lava-dl's gts/pilotnet_lif folder: measure "
                        "the rates from its recorded spikes instead of the stored ones")
    parser.add_argument("--fit", action="store_true", help="print the fitted speed coefficient")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    from snncc.targets.loihi.mapping import map_loihi2
    netx = read_netx_weights(args.netx) if args.netx else None
    placement = map_loihi2(build_pilotnet(netx=netx))
    rows = compare_table(placement)
    print(f"{'layer':8s} {'cores':>11s} {'neurons/core':>13s} {'SynMem words':>13s} "
          f"{'axons in':>11s} {'axons out':>11s}   (snncc / Intel)")
    for r in rows:
        print(f"{r['layer']:8s} {r['cores']:5d} /{r['published_cores']:4d} "
              f"{r['neurons_per_core']:6d} /{r['published_neurons']:5d} "
              f"{r['synapse_words']:6.0f} /{r['published_words']:5d} "
              f"{r['axons_in']:5d} /{r['published_axons_in']:4d} "
              f"{r['axons_out']:5.0f} /{r['published_axon_map']:4d}")
    print(f"total    {placement.cores:5d} /{PUBLISHED_CORES:4d} cores "
          f"({placement.cores / PUBLISHED_CORES - 1:+.1%})")
    rates = rates_from_gts(args.gts) if args.gts else None
    a = agreement(placement, rates)
    print(f"frames/s {a['fps']:8.1f} vs {ANCHOR['fps']} ({a['fps_error']:+.1%}); "
          f"energy/inference {a['energy_mj']:.3f} mJ vs {ANCHOR['energy_per_inference_mj']} mJ "
          f"({a['energy_error']:+.1%}); dynamic {a['dynamic_energy_mj']:.3f} mJ vs "
          f"{ANCHOR['dynamic_energy_per_inference_mj']} mJ ({a['dynamic_error']:+.1%}); "
          f"bound by {a['bound']} ({a['busiest_core_layer']})")
    result = {"layers": rows, "cores": placement.cores, "published_cores": PUBLISHED_CORES,
              "agreement": a}
    if args.fit:
        result["fitted_speed"] = fit_speed(placement, rates)
        print(f"fitted speed (Loihi 2 / Loihi 1 per-event time): {result['fitted_speed']:.4f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
