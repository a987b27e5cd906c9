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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

try:
    from .nir_producers import (B, T, from_nirtorch, from_norse, from_rockpool, from_sinabs,
                                from_snntorch, from_spikingjelly)
except ImportError:          # run as a script: bench/ is on sys.path
    from nir_producers import (B, T, from_nirtorch, from_norse, from_rockpool, from_sinabs,
                               from_snntorch, from_spikingjelly)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Case:
    producer: str
    nodes: str                      # NIR node types the export holds
    build: Callable                 # () -> (write, simulate, in_shape, readout): nir_producers
    need: str = ""                  # module to import (skip when missing)
    # what a user passes for what NIR does not record (read_nir/api keywords = CLI options):
    # reset, dt, convention, max_spikes_per_dt
    opts: dict = field(default_factory=dict)
    readout: bool = False           # ends in a non-spiking readout (NIR LI): compares membranes
    target: str = "loihi"           # the chip of the quantized check ("" when none takes it)


def _x(in_shape, seed=0, rate=0.3):
    shape = (T, B) + (tuple(in_shape) if isinstance(in_shape, tuple) else (in_shape,))
    return (np.random.default_rng(seed).random(shape) < rate).astype(np.float32)


SUB = {"reset": "subtract"}           # snnTorch's default reset, which its files cannot say
ONE = {"max_spikes_per_dt": 1}        # Rockpool, Sinabs: models built with one spike per step
CASES = [
    Case("snnTorch 1.0.0", "Affine, LIF", from_snntorch("Leaky"), "snntorch", SUB),
    Case("snnTorch 1.0.0", "Affine, CubaLIF", from_snntorch("Synaptic"), "snntorch", SUB),
    Case("snnTorch 1.0.0", "Affine, LIF + recurrent Affine", from_snntorch("RLeaky"), "snntorch",
         SUB),
    Case("snnTorch 1.0.0", "Affine, CubaLIF + recurrent Affine", from_snntorch("RSynaptic"),
         "snntorch", SUB),
    Case("SpikingJelly 2.0.0", "Affine, IF", from_spikingjelly("IFNode"), "spikingjelly"),
    Case("SpikingJelly 2.0.0", "Affine, LIF (r = 1)", from_spikingjelly("LIFNode"), "spikingjelly",
         {"producer": "spikingjelly"}),      # r = 1 and tau*dt: the file cannot tell its dt
    Case("SpikingJelly 2.0.0", "Affine, LIF (r = tau)",
         from_spikingjelly("LIFNode(decay_input=False)"), "spikingjelly"),
    Case("SpikingJelly 2.0.0", "Affine, CubaLIF", from_spikingjelly("CUBALIFNode"), "spikingjelly"),
    Case("Norse 1.1.0", "Affine, LIF", from_norse("LIFBoxCell"), "norse"),
    Case("Norse 1.1.0", "Affine, CubaLIF", from_norse("LIFCell"), "norse"),
    Case("Norse 1.1.0", "Affine, IF", from_norse("IAFCell"), "norse"),
    Case("Rockpool 3.1.0", "Linear, CubaLIF (LIFTorch)", from_rockpool("LIFTorch"), "rockpool", ONE),
    Case("Rockpool 3.1.0", "Affine, CubaLIF (LIFTorch)", from_rockpool("LIFTorch+bias"),
         "rockpool", ONE),
    Case("Rockpool 3.1.0", "Linear, LIF (LIFNeuronTorch)", from_rockpool("LIFNeuronTorch"),
         "rockpool", ONE),
    Case("Rockpool 3.1.0", "Linear, CubaLIF (LIFTorch, up to 65536 spikes/step)",
         from_rockpool("LIFTorch", None), "rockpool", target=""),
    Case("Sinabs 3.1.3", "Affine, IF (IAF)", from_sinabs("IAF"), "sinabs",
         {"producer": "sinabs", **ONE}),
    Case("Sinabs 3.1.3", "Affine, LIF, IF", from_sinabs("LIF"), "sinabs", ONE),
    Case("Sinabs 3.1.3", "Affine, LIF, IF (MultiSpike)", from_sinabs("LIF", multi=True),
         "sinabs", target=""),
    Case("Sinabs 3.1.3", "Conv2d, SumPool2d, Flatten, Affine, IF (CNN)", from_sinabs("CNN"),
         "sinabs", {"producer": "sinabs", **ONE}),
    Case("Norse 1.1.0", "Affine, LIF, LI (LIBoxCell readout)", from_norse("LIBoxCell"), "norse",
         readout=True),
    Case("Rockpool 3.1.0", "Linear, CubaLIF, LI (ExpSynTorch readout)",
         from_rockpool("LIFTorch+ExpSynTorch"), "rockpool", ONE, readout=True),
    Case("Sinabs 3.1.3", "Affine, IF, LI (ExpLeak readout)", from_sinabs("readout"), "sinabs",
         {"producer": "sinabs", **ONE}, readout=True),
    Case("nirtorch 2.6", "Affine, LIF (user map)", from_nirtorch("LIF"), "nirtorch", {"dt": 1e-3}),
    Case("nirtorch 2.6", "Affine, CubaLIF (user map)", from_nirtorch("CubaLIF"), "nirtorch",
         {"dt": 1e-3, "convention": "euler"}),
]


@dataclass
class Result:
    case: Case
    read_as: str = ""
    spikes_theirs: int = 0
    spikes_ours: int = 0
    equal: bool = False
    readout_err: Optional[float] = None     # readouts: max |v_snncc - v_producer| / max |v|
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
    write, simulate, in_shape, readout = case.build()
    path = workdir / "m.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write(path)
        x = _x(in_shape)
        theirs = np.asarray(simulate(x))
    theirs = theirs.astype(np.float64)        # spikes, spike counts or a readout's membrane
    try:
        graph = read_nir(path, **case.opts)
    except SnnccError as exc:
        res.error = exc.cause[:160]
        return res
    res.read_as = describe(graph.meta["nir_import"])[0].replace("NIR import: ", "")
    lowered = lower_neurons(graph)[0]
    last = lowered.inputs_of(lowered.output_names[0])[0]
    states: dict = {}
    spikes = simulate_float(lowered, x, states=states)
    if readout:       # the membrane of a non-spiking readout, float32 in the producer
        ours = states[last]
        scale = max(float(np.max(np.abs(theirs))), 1e-12)
        res.readout_err = float(np.max(np.abs(ours - theirs))) / scale if ours.shape == \
            theirs.shape else float("inf")
        res.equal = res.readout_err <= 1e-5
        hidden = [n for n in spikes if n != last and n in states]
        res.spikes_theirs = res.spikes_ours = int(sum(spikes[n].sum() for n in hidden))
    else:             # single-spike neurons give bools, multi-spike ones counts
        ours = spikes[last].astype(np.float64)
        res.spikes_theirs, res.spikes_ours = int(theirs.sum()), int(ours.sum())
        res.equal = ours.shape == theirs.shape and bool(np.array_equal(ours, theirs))
    np.savez(workdir / "x.npz", x=x.swapaxes(0, 1))
    if not case.target:
        return res
    report = api.verify(path, workdir / "x.npz", target=case.target, **case.opts).report
    agreement = report.get("summary", {}).get("output_agreement")
    res.agreement = None if agreement is None else float(agreement)
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
    """The CLI options a user types for this case."""
    return " ".join(f"--{k.replace('_', '-')} {v:g}" if isinstance(v, float) else
                    f"--{k.replace('_', '-')} {v}" for k, v in c.opts.items()) or "-"


def table(results: list[Result]) -> str:
    rows = ["| producer | NIR nodes | options | read as | output spikes (producer / snncc float) "
            "| same float output | quantized agreement |", "|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.case
        if r.error:
            rows.append(f"| {c.producer} | {c.nodes} | {_opts(c)} | refused: {r.error} "
                        "| - | - | - |")
            continue
        out = (f"{r.spikes_theirs} / {r.spikes_ours}" if r.readout_err is None else
               f"readout v: max error {r.readout_err:.0e} of its range")
        quant = ("-" if r.agreement is None else f"{r.agreement:.2%}"
                 + ("" if c.target == "loihi" else f" ({c.target})")
                 + (" (argmax of v per step)" if c.readout else ""))
        if not c.target:
            quant = "Loihi refuses several spikes per step by name"
        rows.append(f"| {c.producer} | {c.nodes} | {_opts(c)} | {r.read_as} | {out} | "
                    f"{'yes' if r.equal else 'NO'} | {quant} |")
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
