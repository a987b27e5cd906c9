"""Generate ``lava_network.py``: an importable module that builds the network from lava-nc
processes with the quantized parameters in ``params.npz`` (written beside it).

The generated code is explicit (one block per layer) so a Loihi user can read, edit and
deploy it.  Stock ``LIF`` is used where it expresses the neuron (zero reset at the spike, no
floor, one du/dv/vth per layer); otherwise snncc's ``FxNeuron`` process.  Split-sign
matrices become two ``Dense`` processes (excitatory and inhibitory) into the same neuron;
biases become a ``RingBuffer`` source that spikes from ``bias_start`` on, through their own
``Dense``.  Pure Python + numpy: runs wherever the compiler runs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import FxDense, FxNeuron, Graph, Input, Output

MODULE_NAME = "lava_network.py"
NEURON_CHOICES = ("auto", "fx", "lif-arrays")


def uses_stock_lif(node: FxNeuron, neuron: str = "auto") -> bool:
    """Whether ``node`` is emitted as Lava's stock LIF under the ``neuron`` policy.

    ``auto``: stock LIF when it expresses the neuron with its declared (scalar) du/dv/vth;
    ``lif-arrays``: stock LIF with per-neuron du/dv/vth arrays (runs in Lava's Python
    fixed_pt model by broadcasting, outside its declared interface); ``fx``: never.
    """
    if neuron == "fx" or not node.is_stock_lif:
        return False
    if neuron == "lif-arrays":
        return True
    return all(len(np.unique(getattr(node, k))) <= 1 for k in ("du", "dv", "vth"))


def _scalar_or_array(node: FxNeuron, field: str) -> str:
    values = np.unique(getattr(node, field))
    return str(int(values[0])) if len(values) == 1 else f'P["{node.name}.{field}"]'


def generate(graph: Graph, neuron: str = "auto") -> str:
    """Source code of the Lava module for a fixed-point graph."""
    if neuron not in NEURON_CHOICES:
        raise SnnccError(f"unknown Lava neuron policy {neuron!r}",
                         f"choose one of: {', '.join(NEURON_CHOICES)}")
    lines: list[str] = []
    emit = lines.append
    var = {name: f"n_{i}" for i, name in enumerate(graph.order())}
    needs_fx = False
    neurons: list[str] = []
    for name in graph.order():
        node = graph.node(name)
        v = var[name]
        ins = graph.inputs_of(name)
        if isinstance(node, Input):
            emit(f"    {v} = RingBuffer(data=np.asarray(stimulus, dtype=np.int32))  # input {name!r}")
            emit(f'    out["source"] = {v}')
        elif isinstance(node, FxDense):
            src = var[ins[0]]
            emit(f"    # synapses {name!r}: {node.weight.shape[1]} -> {node.weight.shape[0]}, "
                 f"weight_exp {node.weight_exp}")
            parts = [("pos", "np.maximum(W, 0)"), ("neg", "np.minimum(W, 0)")] \
                if node.split_sign else [("all", "W")]
            emit(f'    W = P["{name}.weight"]')
            emit(f"    {v} = []")
            for tag, expr in parts:
                emit(f"    {v}.append(Dense(weights={expr}, weight_exp={node.weight_exp}, "
                     f'num_message_bits=0, name="{name}:{tag}"))')
                emit(f"    {src}.s_out.connect({v}[-1].s_in)")
            if node.bias is not None:
                emit(f"    bias_src = RingBuffer(data=bias_train(steps, {node.bias_start}))")
                emit(f'    {v}.append(Dense(weights=P["{name}.bias"].reshape(-1, 1), '
                     f'weight_exp={node.bias_exp}, num_message_bits=0, name="{name}:bias"))')
                emit(f"    bias_src.s_out.connect({v}[-1].s_in)")
        elif isinstance(node, FxNeuron):
            (src,) = ins
            shape = tuple(int(s) for s in node.shape)
            if uses_stock_lif(node, neuron):
                args = ", ".join(f"{k}={_scalar_or_array(node, k)}" for k in ("du", "dv", "vth"))
                emit(f"    {v} = LIF(shape={shape}, {args}, bias_mant=P[\"{name}.bias_mant\"], "
                     f'bias_exp=P["{name}.bias_exp"], name="{name}")')
            else:
                needs_fx = True
                args = ", ".join(f'{k}=P["{name}.{k}"]' for k in
                                 ("du", "dv", "vth", "bias_mant", "bias_exp", "reset_mult", "reset_sub"))
                gain = "None" if node.input_gain is None else f'P["{name}.input_gain"]'
                emit(f"    {v} = FxNeuron(shape={shape}, {args}, reset_delayed={node.reset_delayed}, "
                     f"floor={node.floor}, input_gain={gain}, gain_start={node.gain_start}, "
                     f'bias_start={node.bias_start}, name="{name}")')
            emit(f"    for d in {var[src]}:")
            emit(f"        d.a_out.connect({v}.a_in)")
            emit(f'    out["neurons"][{name!r}] = {v}')
            neurons.append(name)
        elif isinstance(node, Output):
            emit(f'    out["outputs"].append({ins[0]!r})')
        else:
            raise SnnccError(f"the Lava backend cannot emit node {name!r} of kind {node.kind!r}",
                             "this layer type is not supported on Loihi yet")
    header = f'''"""Generated by snncc: the compiled network as lava-nc processes (run with fixed_pt).

Usage (Python 3.10 env with lava-nc 0.10.0):
    import lava_network
    net = lava_network.build(stimulus)   # stimulus: (n_inputs, steps) 0/1 spikes
    # connect probes to net["neurons"][name].s_out / .v / .u, then run with
    # Loihi2SimCfg(select_tag="fixed_pt") and RunSteps(num_steps=steps)

Parameters are read from params.npz beside this file.  Each Dense delivers one step late:
a layer at synaptic depth k answers input step t at step t + k.
"""
from pathlib import Path

import numpy as np
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
{"from snncc.backends.lava.fxneuron import FxNeuron" if needs_fx else ""}

PARAMS = Path(__file__).with_name("params.npz")
INPUT_SHAPE = {tuple(int(s) for s in graph.node(graph.input_names[0]).shape)}
NEURONS = {neurons!r}


def bias_train(steps, start):
    """An always-on axon: spikes at every step from ``start`` on."""
    data = np.zeros((1, steps), dtype=np.int32)
    data[:, start:] = 1
    return data


def build(stimulus):
    """Build the network for one stimulus (n_inputs, steps); returns its processes."""
    steps = np.asarray(stimulus).shape[-1]
    P = dict(np.load(PARAMS))
    out = {{"neurons": {{}}, "outputs": []}}
'''
    return header + "\n".join(lines) + "\n    return out\n"


def write(graph: Graph, directory: Path, neuron: str = "auto") -> Path:
    """Write ``lava_network.py`` into ``directory`` (params.npz must be written beside it)."""
    path = Path(directory) / MODULE_NAME
    path.write_text(generate(graph, neuron))
    return path
