"""Small builders shared by tests."""
from __future__ import annotations

import sys

import numpy as np

from snncc.ir import FxDense, FxNeuron, Graph, Input, Output


def fx_chain(weights: list[np.ndarray], neurons: list[dict], weight_exp: int | list[int] = 0,
             n_in: int | None = None) -> Graph:
    """Input -> (FxDense -> FxNeuron)* -> Output with the given integer parameters."""
    exps = weight_exp if isinstance(weight_exp, list) else [weight_exp] * len(weights)
    g = Graph()
    g.add(Input("input", shape=(n_in or weights[0].shape[1],)))
    prev = "input"
    for i, (w, p) in enumerate(zip(weights, neurons)):
        n = w.shape[0]
        full = {k: np.broadcast_to(np.asarray(p.get(k, d), dtype=np.int64), (n,)).copy()
                for k, d in (("du", 4095), ("dv", 0), ("vth", 10), ("bias_mant", 0), ("bias_exp", 0))}
        g.add(FxDense(f"d{i}", weight=np.asarray(w, dtype=np.int64), weight_exp=exps[i]), [prev])
        reset = p.get("reset", "zero")
        mult = {"zero": 0, "subtract": 4096}.get(reset, p.get("reset_mult", 0))
        sub = full["vth"] << 6 if reset == "subtract" else p.get("reset_sub", 0)
        g.add(FxNeuron(f"n{i}", shape=(n,), floor=p.get("floor"),
                       reset_mult=np.broadcast_to(np.asarray(mult, np.int64), (n,)).copy(),
                       reset_sub=np.broadcast_to(np.asarray(sub, np.int64), (n,)).copy(),
                       reset_delayed=p.get("reset_delayed", False), **full), [f"d{i}"])
        prev = f"n{i}"
    g.add(Output("output"), [prev])
    return g


def spikes_at(steps: int, times: list[int], n: int = 1, batch: int = 1) -> np.ndarray:
    """A (T, B, n) stimulus with every input spiking at the given steps."""
    x = np.zeros((steps, batch, n), dtype=np.uint8)
    x[times] = 1
    return x


def run_cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """Run ``snncc *args`` in-process: (exit code, stdout, stderr).

    With ``capsys=None`` the output stays captured for the caller to read.
    """
    from snncc.cli import main
    monkeypatch.setattr(sys, "argv", ["snncc", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    if capsys is None:
        return code, "", ""
    out = capsys.readouterr()
    return code, out.out, out.err
