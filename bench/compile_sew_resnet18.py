#!/usr/bin/env python3
"""Compile time and peak memory of a SEW-ResNet-18-size spiking network (ImageNet-shaped input).

The model is SEW-ResNet-18 (Fang et al., NeurIPS 2021) with the ADD connect function:
stem conv 7x7/2 + batch-norm + LIF + max pool 3x3/2, four stages of two basic blocks
(64, 128, 256, 512 channels; the first block of stages 2-4 has stride 2 and a downsample
branch conv 1x1/2 + batch-norm + LIF), block output = its second LIF's spikes + the shortcut
spikes, global average pool, Linear 512 -> 1000 and a LIF readout (snncc compiles spike
outputs).  Every LIF has per-neuron decays and thresholds; weights and batch-norm statistics
are random.  Nothing is simulated: the script times trace, lower (batch-norm fold, max pool
as OR neurons) and quantize (synapse composition, delay lines, fixed point), records the
process's peak RSS, and compiles a second time under tracemalloc for the peak Python heap
(numpy arrays included).

``--sizes 112 224`` compiles at two input sizes: work that grew faster than the number of
neurons would show as a time or memory ratio well above the neuron ratio.

Each size is also mapped onto Loihi 2 (``snncc.targets.loihi.mapping``): cores, chips (the
smallest Intel system that holds them), the cores of the readout's fan-in split, and the
time/energy estimate at an assumed 10% firing rate over 4 steps.

Usage: ``.venv/bin/python bench/compile_sew_resnet18.py [--sizes 224] [--json out.json]``.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import snncc.nn as snn  # noqa: E402
from snncc.frontend import trace  # noqa: E402
from snncc.ir import FxConv, FxDelay, FxDense, FxNeuron  # noqa: E402
from snncc.passes import lower_neurons, validate_float  # noqa: E402
from snncc.targets.loihi.quantize import quantize  # noqa: E402

STEPS = 4          # time steps per inference for the Loihi 2 estimate (SEW-ResNet's T = 4)


def _lif(shape) -> snn.LIF:
    n = int(np.prod(shape))
    return snn.LIF(shape, beta=torch.rand(n) * 0.3 + 0.65, threshold=torch.rand(n) * 0.5 + 0.75)


class BasicBlock(nn.Module):
    """SEW basic block: sn2(bn2(conv2(sn1(bn1(conv1(x)))))) ADD shortcut(x)."""

    def __init__(self, c_in: int, c_out: int, stride: int, hw: int) -> None:
        super().__init__()
        out_hw = (hw - 1) // stride + 1
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.sn1 = _lif((c_out, out_hw, out_hw))
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.sn2 = _lif((c_out, out_hw, out_hw))
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                            nn.BatchNorm2d(c_out), _lif((c_out, out_hw, out_hw)))

    def forward(self, x):
        out = self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(x))))))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


class SEWResNet18(nn.Module):
    def __init__(self, size: int = 224, classes: int = 1000) -> None:
        super().__init__()
        hw = (size + 1) // 2
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.sn1 = _lif((64, hw, hw))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        hw = (hw + 1) // 2
        layers, c_in = [], 64
        for i, c in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(c_in, c, stride, hw),
                                        BasicBlock(c, c, 1, (hw - 1) // stride + 1)))
            hw, c_in = (hw - 1) // stride + 1, c
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, classes)
        self.sn_out = _lif(classes)

    def forward(self, x):
        x = self.maxpool(self.sn1(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.sn_out(self.fc(torch.flatten(self.avgpool(x), 1)))


def build(size: int = 224, seed: int = 0) -> SEWResNet18:
    """The model with random weights and batch-norm statistics, in inference mode."""
    torch.manual_seed(seed)
    model = SEWResNet18(size)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def _stages(model, size: int):
    """trace, lower, quantize; returns the fixed graph, the report and the stage times."""
    t0 = time.perf_counter()
    graph = trace(model, (3, size, size))
    t1 = time.perf_counter()
    validate_float(graph)
    lowered, _ = lower_neurons(graph)
    t2 = time.perf_counter()
    fixed, report = quantize(lowered)
    t3 = time.perf_counter()
    return fixed, report, {"trace": t1 - t0, "lower": t2 - t1, "quantize": t3 - t2,
                           "total": t3 - t0}


def compile_once(size: int) -> dict:
    """Build the model, time a compile, then compile again under tracemalloc for the peak
    heap (tracemalloc slows allocation-heavy Python such as torch.fx, so not timed)."""
    model = build(size)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fixed, report, seconds = _stages(model, size)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    del fixed, report
    tracemalloc.start()
    fixed, report, _ = _stages(model, size)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    mapping = map_once(fixed)
    neurons = sum(int(np.prod(n.shape)) for n in fixed.of_type(FxNeuron))
    kernel = sum(int(n.weight.size) for n in fixed.of_type(FxConv))
    dense = sum(int(n.weight.size) for n in fixed.of_type(FxDense))
    return {
        "input": [3, size, size],
        "seconds": seconds,
        "peak_heap_mib": peak / 2 ** 20,
        "peak_rss_mib": rss_after,
        "rss_before_compile_mib": rss_before,
        "neurons": neurons,
        "layers": len(report.layers),
        "conv_synapses": len(fixed.of_type(FxConv)),
        "dense_synapses": len(fixed.of_type(FxDense)),
        "delay_lines": len(fixed.of_type(FxDelay)),
        "conv_kernel_weights": kernel,
        "dense_weights": dense,
        "loihi2": mapping,
    }


def map_once(fixed) -> dict:
    """Time the Loihi 2 placement (as many chips as it needs); a layer that fits no core
    gets snncc's own message."""
    from snncc.errors import SnnccError
    from snncc.targets.loihi.mapping import map_loihi2
    t0 = time.perf_counter()
    from snncc.targets.loihi.energy import estimate
    from snncc.targets.loihi.mapping import SYSTEMS
    try:
        placement = map_loihi2(fixed)
        split = {l.name: l.cores for l in placement.layers
                 if l.tiling.spec.kind == "fan_in_split"}
        system = next((s.name for s in sorted(SYSTEMS.values(), key=lambda s: s.chips)
                       if s.chips >= placement.chips), None)
        est = estimate(placement, steps=STEPS)
        result = {"fits": True, "cores": placement.cores, "chips": placement.chips,
                  "smallest_system": system, "fan_in_split_cores": split,
                  "estimate": est.to_dict()}
    except SnnccError as exc:
        result = {"fits": False, "error": exc.cause}
    result["seconds"] = time.perf_counter() - t0
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[224])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = [compile_once(s) for s in args.sizes]
    for r in results:
        s = r["seconds"]
        print(f"SEW-ResNet-18 {r['input']}: {r['neurons']:,} neurons in {r['layers']} layers, "
              f"{r['conv_synapses']} conv + {r['dense_synapses']} dense synapse groups, "
              f"{r['delay_lines']} delay lines")
        print(f"  compile {s['total']:.2f} s (trace {s['trace']:.2f}, lower {s['lower']:.2f}, "
              f"quantize {s['quantize']:.2f}); peak heap {r['peak_heap_mib']:.0f} MiB, "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB (model alone {r['rss_before_compile_mib']:.0f})")
        m = r["loihi2"]
        print(f"  Loihi 2 mapping {m['seconds']:.2f} s: " +
              (f"{m['cores']:,} cores on {m['chips']} chip(s) ({m['smallest_system']})"
               if m["fits"] else f"does not fit: {m['error']}"))
        if m["fits"]:
            e = m["estimate"]
            print(f"    of which the readout's fan-in split: {m['fan_in_split_cores']}")
            print(f"    at {e['activity']}, {STEPS} steps: {e['inferences_per_s']:.1f} "
                  f"inferences/s ({e['bound']}-bound), {e['energy_per_inference_j'] * 1e3:.1f} "
                  f"mJ per inference, {e['inter_chip_messages_per_step']:,.0f} inter-chip "
                  "messages per step")
    if len(results) > 1:
        a, b = results[0], results[-1]
        print(f"  x{b['neurons'] / a['neurons']:.2f} neurons -> x"
              f"{b['seconds']['total'] / a['seconds']['total']:.2f} time, x"
              f"{b['peak_heap_mib'] / a['peak_heap_mib']:.2f} heap")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
