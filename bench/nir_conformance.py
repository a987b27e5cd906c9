"""NIR conformance: every producer that installs here x every node type it writes.

For each case the producer builds a small network, exports it with its own NIR exporter and
simulates it itself (the oracle); snncc reads the file as that producer means it (nothing but
the options a user would pass: ``reset`` where the file cannot say it) and its float model
must give the *same* output spikes; the quantized Loihi network must agree >= 99% with it
(``snncc verify``'s output spike agreement).

    python bench/nir_conformance.py            # print the table
    python bench/nir_conformance.py --write    # also write it into docs/nir.md

The tests (tests/test_nir_conformance.py) run the same cases.
"""
from __future__ import annotations

import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
T, B = 40, 8


@dataclass
class Case:
    producer: str
    nodes: str                      # NIR node types the export holds
    build: Callable                 # () -> (write(path), simulate(x (T,B,n)) -> (T,B,m), n_in, out)
    reset: Optional[str] = None     # what a user passes for the reset NIR does not record
    need: str = ""                  # module to import (skip when missing)
    dt: Optional[float] = None      # what a user passes when the file implies no step


def _x(n_in, seed=0, rate=0.3):
    return (np.random.default_rng(seed).random((T, B, n_in)) < rate).astype(np.float32)


def _scale(net, k):
    import torch
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.mul_(k)


# -- snnTorch 1.0.0 --------------------------------------------------------------------------
def _snntorch(kind: str):
    def build():
        import nir
        import snntorch as snn
        import torch
        from snntorch.export_nir import export_to_nir
        torch.manual_seed(0)
        n = 12
        kw = dict(threshold=torch.ones(n), init_hidden=True, reset_mechanism="subtract")
        beta = torch.rand(n) * 0.5 + 0.4
        layer = {"Leaky": lambda: snn.Leaky(beta=beta, **kw),
                 "Synaptic": lambda: snn.Synaptic(alpha=torch.rand(n) * 0.5 + 0.3, beta=beta, **kw),
                 "RLeaky": lambda: snn.RLeaky(beta=beta, linear_features=n, **kw),
                 "RSynaptic": lambda: snn.RSynaptic(alpha=torch.rand(n) * 0.5 + 0.3, beta=beta,
                                                    linear_features=n, **kw)}[kind]()
        net = torch.nn.Sequential(torch.nn.Linear(6, n), layer, torch.nn.Linear(n, 4),
                                  snn.Leaky(beta=torch.full((4,), 0.8), threshold=torch.ones(4),
                                            init_hidden=True, output=True,
                                            reset_mechanism="subtract"))
        _scale(net, 3.0)

        def write(path):
            nir.write(path, export_to_nir(net, torch.zeros(6)))

        def simulate(x):
            for m in net.modules():
                if isinstance(m, snn.SpikingNeuron):
                    m.reset_mem()
            with torch.no_grad():
                outs = [net(torch.from_numpy(x[t])) for t in range(len(x))]
            return np.stack([(o[0] if isinstance(o, tuple) else o).numpy() for o in outs])
        return write, simulate, 6, "3"
    return build


# -- SpikingJelly 2.0.0 ----------------------------------------------------------------------
def _spikingjelly(kind: str):
    def build():
        import torch
        from spikingjelly.activation_based import functional, neuron
        from spikingjelly.activation_based.nir_exchange import export_to_nir
        torch.manual_seed(0)
        make = {"IFNode": lambda: neuron.IFNode(v_reset=0.0),
                "LIFNode": lambda: neuron.LIFNode(tau=3.0, v_reset=0.0),
                "LIFNode(decay_input=False)": lambda: neuron.LIFNode(tau=3.0, decay_input=False,
                                                                     v_reset=0.0),
                "CUBALIFNode": lambda: neuron.CUBALIFNode(c_decay=0.5, v_decay=0.75, v_reset=0.0)}[kind]
        net = torch.nn.Sequential(torch.nn.Linear(6, 12), make(), torch.nn.Linear(12, 4), make())
        _scale(net, 6.0 if kind == "LIFNode" else 2.0)       # decay_input divides by tau

        def write(path):
            export_to_nir(net, torch.zeros(1, 6), save_path=path)

        def simulate(x):
            functional.reset_net(net)
            with torch.no_grad():
                return np.stack([net(torch.from_numpy(x[t])).numpy() for t in range(len(x))])
        return write, simulate, 6, "3"
    return build


# -- Norse 1.1.0 -----------------------------------------------------------------------------
def _norse(kind: str):
    def build():
        import nir
        import norse.torch as norse
        import torch
        torch.manual_seed(0)
        cell = {"LIFBoxCell": norse.LIFBoxCell, "LIFCell": norse.LIFCell,
                "IAFCell": norse.IAFCell}[kind]
        model = norse.SequentialState(torch.nn.Linear(6, 12), cell(), torch.nn.Linear(12, 4), cell())
        _scale(model, {"LIFBoxCell": 60.0, "LIFCell": 8.0, "IAFCell": 1.5}[kind])

        def write(path):
            # its layers hold 0-d parameters, which nir.write's default gzip cannot store
            nir.write(path, norse.to_nir(model, torch.zeros(1, 6)), compression=None)

        def simulate(x):
            state, outs = None, []
            with torch.no_grad():
                for t in range(len(x)):
                    y, state = model(torch.from_numpy(x[t]), state)
                    outs.append(y.numpy())
            return np.stack(outs)
        return write, simulate, 6, "3"
    return build


CASES = [
    Case("snnTorch 1.0.0", "Affine, LIF", _snntorch("Leaky"), "subtract", "snntorch"),
    Case("snnTorch 1.0.0", "Affine, CubaLIF", _snntorch("Synaptic"), "subtract", "snntorch"),
    Case("snnTorch 1.0.0", "Affine, LIF + recurrent Affine", _snntorch("RLeaky"), "subtract",
         "snntorch"),
    Case("snnTorch 1.0.0", "Affine, CubaLIF + recurrent Affine", _snntorch("RSynaptic"),
         "subtract", "snntorch"),
    Case("SpikingJelly 2.0.0", "Affine, IF", _spikingjelly("IFNode"), None, "spikingjelly"),
    Case("SpikingJelly 2.0.0", "Affine, LIF (r = 1)", _spikingjelly("LIFNode"), None,
         "spikingjelly", dt=1e-4),
    Case("SpikingJelly 2.0.0", "Affine, LIF (r = tau)", _spikingjelly("LIFNode(decay_input=False)"),
         None, "spikingjelly"),
    Case("SpikingJelly 2.0.0", "Affine, CubaLIF", _spikingjelly("CUBALIFNode"), None,
         "spikingjelly"),
    Case("Norse 1.1.0", "Affine, LIF", _norse("LIFBoxCell"), None, "norse"),
    Case("Norse 1.1.0", "Affine, CubaLIF", _norse("LIFCell"), None, "norse"),
    Case("Norse 1.1.0", "Affine, IF", _norse("IAFCell"), None, "norse"),
]


@dataclass
class Result:
    case: Case
    read_as: str = ""
    spikes_theirs: int = 0
    spikes_ours: int = 0
    equal: bool = False
    agreement: Optional[float] = None
    error: str = ""


def run_case(case: Case, workdir: Path) -> Result:
    """Export, simulate with the producer, read and simulate with snncc, verify quantized."""
    from snncc import api
    from snncc.backends.nir import read_nir
    from snncc.backends.nir.summary import describe
    from snncc.errors import SnnccError
    from snncc.passes import lower_neurons
    from snncc.passes.float_sim import simulate_float
    res = Result(case)
    write, simulate, n_in, out = case.build()
    path = workdir / "m.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write(path)
        x = _x(n_in)
        theirs = np.asarray(simulate(x)).astype(bool)
    try:
        graph = read_nir(path, dt=case.dt, reset=case.reset)
    except SnnccError as exc:
        res.error = exc.cause[:160]
        return res
    res.read_as = describe(graph.meta["nir_import"])[0].replace("NIR import: ", "")
    lowered = lower_neurons(graph)[0]
    ours = simulate_float(lowered, x)[lowered.inputs_of(lowered.output_names[0])[0]]
    res.spikes_theirs, res.spikes_ours = int(theirs.sum()), int(ours.sum())
    res.equal = ours.shape == theirs.shape and bool(np.array_equal(ours, theirs))
    np.savez(workdir / "x.npz", x=x.swapaxes(0, 1))
    report = api.verify(path, workdir / "x.npz", reset=case.reset, dt=case.dt).report
    res.agreement = float(report["summary"]["output_agreement"])
    return res


def run_all(cases=CASES) -> list[Result]:
    import importlib.util
    out = []
    for case in cases:
        if case.need and importlib.util.find_spec(case.need) is None:
            continue
        with tempfile.TemporaryDirectory() as d:
            try:
                out.append(run_case(case, Path(d)))
            except Exception as exc:          # a producer's own export failing: shown as such
                out.append(Result(case, error=f"{type(exc).__name__}: {str(exc)[:120]}"))
    return out


def _opts(c: Case) -> str:
    opts = ([f"--reset {c.reset}"] if c.reset else []) + ([f"--dt {c.dt:g}"] if c.dt else [])
    return " ".join(opts) or "-"


def table(results: list[Result]) -> str:
    rows = ["| producer | NIR nodes | options | read as | output spikes (producer / snncc float) "
            "| same float spikes | quantized agreement |", "|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.case
        if r.error:
            rows.append(f"| {c.producer} | {c.nodes} | {_opts(c)} | refused: {r.error} "
                        "| - | - | - |")
            continue
        rows.append(f"| {c.producer} | {c.nodes} | {_opts(c)} | {r.read_as} | "
                    f"{r.spikes_theirs} / {r.spikes_ours} | {'yes' if r.equal else 'NO'} | "
                    f"{r.agreement:.2%} |")
    return "\n".join(rows)


BEGIN, END = "<!-- conformance table: python bench/nir_conformance.py --write -->", "<!-- end -->"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    text = table(run_all())
    print(text)
    if "--write" in argv:
        doc = ROOT / "docs" / "nir.md"
        body = doc.read_text()
        start, end = body.index(BEGIN) + len(BEGIN), body.index(END)
        doc.write_text(body[:start] + "\n" + text + "\n" + body[end:])
        print(f"wrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
