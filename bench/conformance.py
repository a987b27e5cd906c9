"""The conformance table: framework x module class x options -> exact / refused (reason).

``python bench/conformance.py`` evaluates every row of :data:`ROWS` and writes
``docs/conformance.md``; ``tests/test_conformance.py`` runs each row as a test.  A row is a
small model (Linear -> the module under test -> Linear -> a plain neuron of the same
framework) with seeded weights.  For each row:

* **status**: ``exact`` when snncc compiles it and its lowered float graph reproduces the
  framework's own forward pass (every spike of every layer, readout membranes within float
  rounding) on ``STEPS`` x ``SAMPLES`` rate-coded inputs; ``refused`` with snncc's one-line
  reason otherwise (``traced`` would mean compiled but not equal: none may remain);
* **float spikes**: mismatching / total spike values, framework vs snncc float graph;
* **quantized**: the fixed-point network's agreement with the framework (bit-accurate
  simulator, end to end): the mean over layers of the spike agreement (readouts: the
  per-step argmax of the membrane).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STEPS, SAMPLES = 40, 32


@dataclass
class Row:
    framework: str
    module: str
    options: str
    build: Callable            # () -> (model, input_shape)
    expect: str = "exact"      # or "refused:<text the reason contains>"

    @property
    def id(self) -> str:
        return f"{self.framework}-{self.module}-{self.options}".replace(" ", "").replace("/", "_")


@dataclass
class Result:
    status: str                # exact | traced | refused
    reason: str = ""
    float_mismatches: Optional[int] = None
    float_total: Optional[int] = None
    readout_error: Optional[float] = None
    quantized: Optional[float] = None


def _seed(model, seed=0, gain=2.5):
    from bench.zoo import seed_weights
    return seed_weights(model, seed, gain)


def _chain(first, mid, last, n_in=16, hidden=24, n_out=6, gain=2.5, seed=0):
    """Linear -> ``mid(hidden)`` -> Linear -> ``last(n_out)`` (modules from factories)."""
    from torch import nn
    model = nn.Sequential(nn.Linear(n_in, hidden), mid(hidden), nn.Linear(hidden, n_out),
                          last(n_out))
    return _seed(model, seed, gain), (n_in,)


# ------------------------------------------------------------------------------ rows

def _snncc_rows() -> list[Row]:
    import snncc.nn as snn
    from torch import nn

    class Leakier(snn.LIF):
        def forward(self, x):
            return super().forward(0.5 * x)

    def lif(n):
        return snn.LIF(n, reset="subtract")
    rows = [
        Row("snncc.nn", "LIF", "reset=zero", lambda: _chain(None, lambda n: snn.LIF(n), lif)),
        Row("snncc.nn", "LIF", "reset=subtract", lambda: _chain(None, lif, lif)),
        Row("snncc.nn", "CubaLIF", "", lambda: _chain(None, lambda n: snn.CubaLIF(n), lif)),
        Row("snncc.nn", "PLIF", "", lambda: _chain(None, lambda n: snn.PLIF(n), lif)),
        Row("snncc.nn", "DALIF", "", lambda: _chain(None, lambda n: snn.DALIF(n), lif)),
        Row("snncc.nn", "KLIF", "", lambda: _chain(None, lambda n: snn.KLIF(n), lif)),
        Row("snncc.nn", "GLIF", "T=40", lambda: _chain(None, lambda n: snn.GLIF(n, T=STEPS), lif)),
        Row("snncc.nn", "RLIF", "", lambda: _chain(None, lambda n: snn.RLIF(n), lif)),
        Row("snncc.nn", "RCubaLIF", "", lambda: _chain(None, lambda n: snn.RCubaLIF(n), lif)),
        Row("snncc.nn", "LI", "readout", lambda: _chain(None, lif, lambda n: snn.LI(n))),
        Row("snncc.nn", "CubaLI", "readout", lambda: _chain(None, lif, lambda n: snn.CubaLI(n))),
        Row("snncc.nn", "LIF subclass", "overrides forward", lambda: _chain(None, Leakier, lif),
            "refused:overrides forward"),
        Row("torch.nn", "Linear", "output without a neuron",
            lambda: (_seed(nn.Sequential(nn.Linear(16, 8), lif(8), nn.Linear(8, 4))), (16,)),
            "refused:not from a spiking neuron"),
    ]
    return rows


def _snntorch_rows() -> list[Row]:
    import snntorch as snt
    from torch import nn

    def leaky(n):
        return snt.Leaky(beta=0.9, init_hidden=True)

    def chain(mid, expect="exact", gain=2.5):
        return lambda: _chain(None, mid, leaky, gain=gain)

    class LoopNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.lif = nn.Linear(16, 6), snt.Leaky(beta=0.9)

        def forward(self, x):
            mem, out = self.lif.reset_mem(), []
            for t in range(4):
                spk, mem = self.lif(self.fc(x[t]), mem)
                out.append(spk)
            return out[-1]

    rows = [
        Row("snnTorch", "Leaky", "subtract (default)", chain(leaky)),
        Row("snnTorch", "Leaky", "zero", chain(lambda n: snt.Leaky(beta=0.9, init_hidden=True,
                                                                   reset_mechanism="zero"))),
        Row("snnTorch", "Leaky", "none", chain(lambda n: snt.Leaky(beta=0.9, init_hidden=True,
                                                                   reset_mechanism="none"), gain=1.5)),
        Row("snnTorch", "Leaky", "zero, reset_delay=False",
            chain(lambda n: snt.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero",
                                      reset_delay=False))),
        Row("snnTorch", "Leaky", "subtract, reset_delay=False",
            chain(lambda n: snt.Leaky(beta=0.9, init_hidden=True, reset_delay=False)),
            "refused:double reset"),
        Row("snnTorch", "Leaky", "inhibition",
            chain(lambda n: snt.Leaky(beta=0.9, init_hidden=True, inhibition=True)),
            "refused:inhibition"),
        Row("snnTorch", "Leaky", "graded spikes",
            chain(lambda n: snt.Leaky(beta=0.9, init_hidden=True, graded_spikes_factor=2.0)),
            "refused:graded spikes"),
        Row("snnTorch", "Synaptic", "subtract (default)",
            chain(lambda n: snt.Synaptic(alpha=0.6, beta=0.9, init_hidden=True))),
        Row("snnTorch", "Synaptic", "zero",
            chain(lambda n: snt.Synaptic(alpha=0.6, beta=0.9, init_hidden=True,
                                         reset_mechanism="zero")), "refused:refractory"),
        Row("snnTorch", "Lapicque", "beta", chain(lambda n: snt.Lapicque(beta=0.9, init_hidden=True))),
        Row("snnTorch", "Lapicque", "R, C, time_step",
            chain(lambda n: snt.Lapicque(R=5.0, C=0.004, time_step=0.01, init_hidden=True))),
        Row("snnTorch", "Lapicque", "zero",
            chain(lambda n: snt.Lapicque(beta=0.9, init_hidden=True, reset_mechanism="zero")),
            "refused:refractory"),
        Row("snnTorch", "Alpha", "zero (default)",
            chain(lambda n: snt.Alpha(alpha=0.9, beta=0.8, init_hidden=True)), "refused:Alpha"),
        Row("snnTorch", "Alpha", "none",
            chain(lambda n: snt.Alpha(alpha=0.9, beta=0.8, init_hidden=True,
                                      reset_mechanism="none")), "refused:one step later"),
        Row("snnTorch", "RLeaky", "one-to-one V",
            chain(lambda n: snt.RLeaky(beta=0.9, V=0.3, all_to_all=False, init_hidden=True))),
        Row("snnTorch", "RLeaky", "all-to-all Linear",
            chain(lambda n: snt.RLeaky(beta=0.9, linear_features=n, init_hidden=True), gain=2.0)),
        Row("snnTorch", "RLeaky", "zero",
            chain(lambda n: snt.RLeaky(beta=0.9, linear_features=n, init_hidden=True,
                                       reset_mechanism="zero")), "refused:refractory"),
        Row("snnTorch", "RSynaptic", "all-to-all Linear",
            chain(lambda n: snt.RSynaptic(alpha=0.6, beta=0.9, linear_features=n,
                                          init_hidden=True), gain=2.0)),
        Row("snnTorch", "RSynaptic", "one-to-one V",
            chain(lambda n: snt.RSynaptic(alpha=0.6, beta=0.9, all_to_all=False, V=0.3,
                                          init_hidden=True))),
        Row("snnTorch", "DeltaLeaky", "", chain(lambda n: snt.DeltaLeaky(beta=0.9)),
            "refused:DeltaLeaky"),
        Row("snnTorch", "Leaky", "time loop inside forward", lambda: (_seed(LoopNet()), (16,)),
            "refused:time loop"),
    ]
    return rows


def _spikingjelly_rows() -> list[Row]:
    from spikingjelly.activation_based import functional, layer
    from spikingjelly.activation_based import neuron as sjn
    from torch import nn

    def chain(mid, step_mode="s", gain=3.0):
        def build():
            model = nn.Sequential(layer.Linear(16, 24), mid(24), layer.Linear(24, 6),
                                  sjn.LIFNode(tau=2.0))
            functional.set_step_mode(model, step_mode)
            return _seed(model, 0, gain), (16,)
        return build

    def seq_conv():
        model = nn.Sequential(layer.SeqToANNContainer(nn.Conv2d(1, 6, 3, padding=1),
                                                      nn.BatchNorm2d(6)),
                              sjn.LIFNode(tau=2.0),
                              layer.SeqToANNContainer(nn.Flatten(), nn.Linear(6 * 6 * 6, 6)),
                              sjn.LIFNode(tau=2.0))
        functional.set_step_mode(model, "m")
        return _seed(model, 0, 3.0), (1, 6, 6)

    return [
        Row("SpikingJelly", "LIFNode", "hard reset", chain(lambda n: sjn.LIFNode(tau=2.0))),
        Row("SpikingJelly", "LIFNode", "soft reset (v_reset=None)",
            chain(lambda n: sjn.LIFNode(tau=2.0, v_reset=None))),
        Row("SpikingJelly", "LIFNode", "decay_input=False",
            chain(lambda n: sjn.LIFNode(tau=2.0, decay_input=False), gain=1.5)),
        Row("SpikingJelly", "LIFNode", "v_reset=-0.5", chain(lambda n: sjn.LIFNode(tau=2.0,
                                                                                    v_reset=-0.5))),
        Row("SpikingJelly", "LIFNode", "step_mode=m", chain(lambda n: sjn.LIFNode(tau=2.0), "m")),
        Row("SpikingJelly", "ParametricLIFNode", "", chain(lambda n: sjn.ParametricLIFNode())),
        Row("SpikingJelly", "IFNode", "", chain(lambda n: sjn.IFNode(), gain=1.5)),
        Row("SpikingJelly", "SeqToANNContainer", "conv + bn, step_mode=m", seq_conv),
        Row("SpikingJelly", "ILIFNode", "", chain(lambda n: sjn.ILIFNode()), "refused:ILIFNode"),
        Row("SpikingJelly", "LIAFNode", "", chain(lambda n: sjn.LIAFNode(nn.ReLU(), False)),
            "refused:LIAFNode"),
        Row("SpikingJelly", "QIFNode", "", chain(lambda n: sjn.QIFNode()),
            "refused:no snncc converter"),
    ]


def _norse_rows() -> list[Row]:
    import norse.torch as norse
    import torch
    from torch import nn

    def chain(mid, last=None, gain=25.0):
        def build():
            model = norse.SequentialState(nn.Linear(16, 24), mid(), nn.Linear(24, 6),
                                          (last or norse.LIFCell)())
            return _seed(model, 0, gain), (16,)
        return build

    return [
        Row("Norse", "LIFCell", "", chain(norse.LIFCell)),
        Row("Norse", "LIFCell", "v_leak=0.2, v_reset=-0.1",
            chain(lambda: norse.LIFCell(norse.LIFParameters(v_leak=torch.tensor(0.2),
                                                            v_reset=torch.tensor(-0.1))))),
        Row("Norse", "LIFBoxCell", "", chain(norse.LIFBoxCell)),
        Row("Norse", "LICell", "readout", chain(norse.LIFCell, norse.LICell)),
        Row("Norse", "LIBoxCell", "readout", chain(norse.LIFCell, norse.LIBoxCell)),
        Row("Norse", "LICell", "v_leak=0.5", chain(norse.LIFCell, lambda: norse.LICell(
            norse.LIParameters(v_leak=torch.tensor(0.5)))), "refused:v_leak"),
        Row("Norse", "LIF + LI", "multi-step modules",
            lambda: (_seed(norse.SequentialState(nn.Linear(16, 24), norse.LIF(), nn.Linear(24, 6),
                                                 norse.LI()), 0, 25.0), (16,))),
        Row("Norse", "LIF + LICell", "multi-step module and cell", chain(norse.LIF, norse.LICell),
            "refused:mixes"),
        Row("Norse", "LIFAdExCell", "", chain(norse.LIFAdExCell), "refused:no snncc converter"),
    ]


def rows() -> list[Row]:
    """Every row whose framework is installed."""
    out = _snncc_rows()
    for make in (_snntorch_rows, _spikingjelly_rows, _norse_rows):
        try:
            out += make()
        except ImportError:
            pass
    return out


# ------------------------------------------------------------------------------ evaluation

def _stimulus(shape, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dens = np.linspace(0.1, 0.6, SAMPLES).reshape((1, SAMPLES) + (1,) * len(shape))
    return (rng.random((STEPS, SAMPLES) + tuple(shape)) < dens).astype(np.uint8)


def evaluate(row: Row) -> Result:
    """Compile the row's model and measure it (see the module docstring)."""
    from snncc.compiler import compile_model
    from snncc.errors import SnnccError
    from snncc.passes.float_sim import simulate_float
    from snncc.reference import run_float
    from snncc.report.runs import readout_scales
    from snncc.verify import verify
    try:
        model, shape = row.build()
        compiled = compile_model(model, input_shape=shape)
    except SnnccError as exc:
        return Result("refused", exc.cause)
    x = _stimulus(shape)
    layers = [m.name for m in compiled.mapping if m.name in dict(model.named_modules())]
    readouts = readout_scales(compiled.fixed)
    ref = run_float(model, x, layers, values=True)
    states: dict = {}
    ours = simulate_float(compiled.lowered, x, states=states)
    spiking = [n for n in layers if n not in readouts]
    mism = sum(int(((ref[n] > 0) != ours[n]).sum()) for n in spiking)
    total = sum(int(ref[n].size) for n in spiking)
    rerr = max((float(np.abs(ref[n] - states[n]).max() / max(1.0, np.abs(ref[n]).max()))
                for n in readouts), default=None)
    exact = mism == 0 and (rerr is None or rerr < 1e-4)
    report = verify(model, compiled, x)
    agreement = float(np.mean([l.spike_agreement for l in report.layers]))
    return Result("exact" if exact else "traced", "", mism, total, rerr, agreement)


def _fmt_row(row: Row, res: Result) -> str:
    if res.status == "refused":
        reason = res.reason.replace("|", "/")
        return (f"| {row.framework} | {row.module} | {row.options or '-'} | refused | "
                f"{reason} | - | - |")
    spikes = f"{res.float_mismatches} / {res.float_total}"
    if res.readout_error is not None:
        spikes += f"; readout v rel. err {res.readout_error:.1e}"
    return (f"| {row.framework} | {row.module} | {row.options or '-'} | {res.status} | - | "
            f"{spikes} | {res.quantized:.2%} |")


HEADER = """# Conformance: what snncc compiles, and how exactly

Generated by `python bench/conformance.py` (each row is also a test:
`tests/test_conformance.py`).  Every row is a small seeded model: Linear -> the module ->
Linear -> a plain neuron of the same framework, run on {steps} steps x {samples} rate-coded
samples.

* **status**: `exact` = compiled, and snncc's float graph reproduces the framework's own
  forward pass spike for spike (readouts: membrane within float rounding); `refused` = snncc
  stops with the reason shown (one `error:` line on the CLI).  Every compile also runs the
  differential self-check (a short probe against the framework's own forward pass), so a
  module snncc would convert wrongly is refused, never compiled silently.
* **float spikes**: mismatching / total spike values, framework vs snncc's float graph.
* **quantized**: agreement of the Loihi fixed-point network (bit-accurate simulator) with
  the framework, end to end, mean over layers (readouts: per-step argmax of the membrane).
  Random weights amplify each flipped spike downstream; trained models agree more.

| framework | module | options | status | reason | float spikes (mismatch / total) | quantized |
|---|---|---|---|---|---|---|
"""


def main(out: Path = ROOT / "docs" / "conformance.md") -> int:
    lines = [HEADER.format(steps=STEPS, samples=SAMPLES)]
    bad = 0
    for row in rows():
        res = evaluate(row)
        ok = (res.status == "exact") if row.expect == "exact" else (
            res.status == "refused" and row.expect.split(":", 1)[1] in res.reason)
        bad += not ok
        lines.append(_fmt_row(row, res) + "\n")
        print(f"{'ok ' if ok else 'BAD'} {row.id}: {res.status} {res.reason[:80]}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(lines))
    print(f"wrote {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
