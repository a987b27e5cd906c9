"""Generate ``lava_network.py``: an importable module that builds the network from lava-nc
processes with the quantized parameters in ``params.npz`` (written beside it).

The generated code is explicit (one block per layer) so a Loihi user can read, edit and
deploy it.  Stock ``LIF`` is used where it expresses the neuron (zero reset at the spike, no
floor, one du/dv/vth per layer); otherwise snncc's ``FxNeuron`` process.  Split-sign
matrices become two ``Dense`` processes (excitatory and inhibitory) into the same neuron;
biases become a ``RingBuffer`` source that spikes from ``bias_start`` on, through their own
``Dense``.  Pure Python + numpy: runs wherever the compiler runs.

Deep networks (see docs/concepts/deep-networks.md):

* **Layout.**  snncc keeps PyTorch's (C, H, W); Lava's ``Conv`` works on (W, H, C).  Every
  spike tensor with a (C, H, W) shape (input, neurons, delay lines) is a Lava process of shape
  (W, H, C); per-neuron parameters are transposed into it, a ``Dense`` reading such a tensor
  reads its flattened port with its weight columns permuted, and the harness's probes are
  transposed back by :func:`snncc.backends.lava.run_lava`.
* ``FxConv`` -> Lava ``Conv`` with the kernel flipped and transposed to (C_out, kW, kH, C_in)
  (Lava convolves, PyTorch cross-correlates) and the weight exponent baked in.
* Several synapses into one neuron (a residual add) all connect to its ``a_in``: Lava sums
  them.  A recurrent ``FxDense`` connects the neuron's ``s_out`` back into its own ``a_in``.
* ``FxDelay`` -> an identity ``Sparse`` (delay 1) or ``DelaySparse`` (``delay - 1`` extra
  steps) into a relay ``LIF`` (du = dv = 4095, vth = 0) that fires exactly when its input did.

Node kinds map to emitter functions in :data:`EMITTERS`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import FxConv, FxDelay, FxDense, FxNeuron, Graph, Input, Node, Output

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


def lava_shape(shape) -> tuple[int, ...]:
    """The Lava process shape of an IR spike tensor: (W, H, C) for (C, H, W), else flat."""
    shape = tuple(int(s) for s in shape)
    return shape[::-1] if len(shape) == 3 else (int(np.prod(shape)),)


@dataclass
class _Ctx:
    """What emitters share: the graph, its shapes, variable names, the code lines."""

    graph: Graph
    neuron_policy: str
    shapes: dict
    var: dict
    lines: list = field(default_factory=list)
    imports: set = field(default_factory=set)
    neurons: list = field(default_factory=list)
    emitted: set = field(default_factory=set)

    def emit(self, line: str) -> None:
        self.lines.append("    " + line)

    def is_image(self, name: str) -> bool:
        return len(self.shapes[name]) == 3

    def spikes(self, name: str, flat: bool) -> str:
        """The out-port expression of spike tensor ``name`` (flattened when ``flat``)."""
        port = f"{self.var[name]}.s_out"
        return f"{port}.flatten()" if flat and self.is_image(name) else port

    def array(self, node: Node, field_name: str) -> str:
        """A per-neuron parameter array in Lava's layout."""
        ref = f'P["{node.name}.{field_name}"]'
        return f"whc({ref}, {tuple(node.shape)})" if len(node.shape) == 3 else ref

    def scalar_or_array(self, node: FxNeuron, field_name: str) -> str:
        values = np.unique(getattr(node, field_name))
        return str(int(values[0])) if len(values) == 1 else self.array(node, field_name)

    def message_bits(self, src: str) -> int:
        """``num_message_bits`` of a synapse reading ``src``: 24 for graded spikes (sigma-delta
        neurons, a graded input), 0 for binary spikes."""
        node = self.graph.node(src)
        graded = getattr(node, "graded", False) or (
            isinstance(node, Input) and bool(self.graph.meta.get("graded_input")))
        return 24 if graded else 0

    def connect_sources(self, name: str) -> None:
        """Connect everything feeding neuron ``name``: synapse ports, or an input fed directly
        (a netx input neuron takes the stimulus on its a_in)."""
        for src in self.graph.inputs_of(name):
            if isinstance(self.graph.node(src), Input):
                self.emit(f"{self.var[src]}.s_out.connect({self.var[name]}.a_in)")
            else:
                self.emit(f"for port in {self.var[src]}:")
                self.emit(f"    port.connect({self.var[name]}.a_in)")

    def connect_into_neuron(self, syn: str) -> None:
        """Connect synapse ports ``syn`` to the neuron they feed, if it is already built
        (a recurrent synapse comes after its neuron; feed-forward ones before)."""
        (dst,) = self.graph.consumers_of(syn)
        if dst in self.emitted:
            self.emit(f"for port in {self.var[syn]}:")
            self.emit(f"    port.connect({self.var[dst]}.a_in)")


Emitter = Callable[[_Ctx, str, Node], None]
EMITTERS: dict[str, Emitter] = {}


def emitter(kind: str):
    def wrap(fn: Emitter) -> Emitter:
        EMITTERS[kind] = fn
        return fn
    return wrap


@emitter(Input.kind)
def _input(ctx: _Ctx, name: str, node: Input) -> None:
    v = ctx.var[name]
    if ctx.is_image(name):
        ctx.emit(f"{v} = RingBuffer(data=whc_train(stimulus, {tuple(node.shape)}))  # input {name!r}")
    else:
        ctx.emit(f"{v} = RingBuffer(data=np.asarray(stimulus, dtype=np.int32))  # input {name!r}")
    ctx.emit(f'out["source"] = {v}')


def _target(ctx: _Ctx, syn: str) -> str:
    (dst,) = ctx.graph.consumers_of(syn)
    return dst


def _bias_axon(ctx: _Ctx, name: str, node) -> None:
    """The always-on axon: RingBuffer -> Dense (one column) into the target neuron."""
    if node.bias is None:
        return
    dst = _target(ctx, name)
    col = f'P["{name}.bias"].reshape(-1, 1)'
    port = "a_out"
    if ctx.is_image(dst):
        col = f"lava_rows({col}, {ctx.shapes[dst]})"
        port = f"a_out.reshape({lava_shape(ctx.shapes[dst])})"
    v = ctx.var[name]
    ctx.emit(f"bias_src = RingBuffer(data=bias_train(steps, {node.bias_start}))")
    ctx.emit(f"bias_syn = Dense(weights={col}, weight_exp={node.bias_exp}, num_message_bits=0, "
             f'name="{name}:bias")')
    ctx.emit("bias_src.s_out.connect(bias_syn.s_in)")
    ctx.emit(f"{v}.append(bias_syn.{port})")


@emitter(FxDense.kind)
def _dense(ctx: _Ctx, name: str, node: FxDense) -> None:
    v, (src,) = ctx.var[name], ctx.graph.inputs_of(name)
    dst = _target(ctx, name)
    ctx.emit(f"# synapses {name!r}: {node.weight.shape[1]} -> {node.weight.shape[0]}, "
             f"weight_exp {node.weight_exp}")
    w = f'P["{name}.weight"]'
    if ctx.is_image(src):
        w = f"lava_columns({w}, {ctx.shapes[src]})"
    if ctx.is_image(dst):
        w = f"lava_rows({w}, {ctx.shapes[dst]})"
    parts = [("pos", "np.maximum(W, 0)"), ("neg", "np.minimum(W, 0)")] \
        if node.split_sign else [("all", "W")]
    port = f"a_out.reshape({lava_shape(ctx.shapes[dst])})" if ctx.is_image(dst) else "a_out"
    ctx.emit(f"W = {w}")
    ctx.emit(f"{v} = []")
    for tag, expr in parts:
        ctx.emit(f"syn = Dense(weights={expr}, weight_exp={node.weight_exp}, "
                 f'num_message_bits={ctx.message_bits(src)}, name="{name}:{tag}")')
        ctx.emit(f"{ctx.spikes(src, flat=True)}.connect(syn.s_in)")
        ctx.emit(f"{v}.append(syn.{port})")
    _bias_axon(ctx, name, node)
    ctx.connect_into_neuron(name)


@emitter(FxConv.kind)
def _conv(ctx: _Ctx, name: str, node: FxConv) -> None:
    v, (src,) = ctx.var[name], ctx.graph.inputs_of(name)
    ctx.imports.add("from lava.proc.conv.process import Conv")
    (ph, pw), (sh, sw) = node.padding, node.stride
    ctx.emit(f"# conv synapses {name!r}: {node.in_shape} -> {node.out_shape}, kernel "
             f"{tuple(node.weight.shape)}, weight_exp {node.weight_exp} (baked in)")
    ctx.emit(f'syn = Conv(weight=conv_kernel(P["{name}.weight"], {node.weight_exp}), '
             f"input_shape={lava_shape(node.in_shape)}, padding=({pw}, {ph}), "
             f'stride=({sw}, {sh}), groups={node.groups}, '
             f'num_message_bits={ctx.message_bits(src)}, name="{name}")')
    ctx.emit(f"{ctx.spikes(src, flat=False)}.connect(syn.s_in)")
    ctx.emit(f"{v} = [syn.a_out]")
    _bias_axon(ctx, name, node)
    ctx.connect_into_neuron(name)


@emitter(FxDelay.kind)
def _delay(ctx: _Ctx, name: str, node: FxDelay) -> None:
    v, (src,) = ctx.var[name], ctx.graph.inputs_of(name)
    n = int(np.prod(node.shape))
    ctx.imports.add("from lava.proc.sparse.process import DelaySparse, Sparse")
    ctx.imports.add("from scipy import sparse")
    ctx.emit(f"# delay line {name!r}: {node.delay} step(s) = identity synapse + relay LIF")
    if node.delay == 1:
        ctx.emit(f'syn = Sparse(weights=sparse.identity({n}, dtype=int, format="csr"), '
                 f'name="{name}:syn")')
    else:
        ctx.emit(f'syn = DelaySparse(weights=sparse.identity({n}, dtype=int, format="csr"), '
                 f'delays=sparse.identity({n}, dtype=int, format="csr") * {node.delay - 1}, '
                 f'name="{name}:syn")')
    ctx.emit(f"{ctx.spikes(src, flat=True)}.connect(syn.s_in)")
    shape = lava_shape(node.shape)
    ctx.emit(f'{v} = LIF(shape={shape}, du=4095, dv=4095, vth=0, name="{name}")')
    port = f"a_out.reshape({shape})" if ctx.is_image(name) else "a_out"
    ctx.emit(f"syn.{port}.connect({v}.a_in)")


@emitter(FxNeuron.kind)
def _neuron(ctx: _Ctx, name: str, node: FxNeuron) -> None:
    v = ctx.var[name]
    shape = lava_shape(node.shape) if len(node.shape) == 3 else tuple(int(s) for s in node.shape)
    if uses_stock_lif(node, ctx.neuron_policy):
        args = ", ".join(f"{k}={ctx.scalar_or_array(node, k)}" for k in ("du", "dv", "vth"))
        ctx.emit(f"{v} = LIF(shape={shape}, {args}, bias_mant={ctx.array(node, 'bias_mant')}, "
                 f"bias_exp={ctx.array(node, 'bias_exp')}, name=\"{name}\")")
    else:
        ctx.imports.add("from snncc.backends.lava.fxneuron import FxNeuron")
        args = ", ".join(f"{k}={ctx.array(node, k)}" for k in
                         ("du", "dv", "vth", "bias_mant", "bias_exp", "reset_mult", "reset_sub"))
        gain = "None"
        if node.input_gain is not None:
            gain = f'P["{name}.input_gain"]'
            if len(node.shape) == 3:
                gain = f"lava_columns({gain}, {tuple(node.shape)})"
        ctx.emit(f"{v} = FxNeuron(shape={shape}, {args}, reset_delayed={node.reset_delayed}, "
                 f"floor={node.floor}, input_gain={gain}, gain_start={node.gain_start}, "
                 f"bias_start={node.bias_start}, spiking={bool(node.spiking)}, "
                 f'name="{name}")')
    ctx.connect_sources(name)
    ctx.emit(f'out["neurons"][{name!r}] = {v}')
    ctx.neurons.append(name)


@emitter(Output.kind)
def _output(ctx: _Ctx, name: str, node: Output) -> None:
    ctx.emit(f'out["outputs"].append({ctx.graph.inputs_of(name)[0]!r})')


HELPERS = '''

def bias_train(steps, start):
    """An always-on axon: spikes at every step from ``start`` on."""
    data = np.zeros((1, steps), dtype=np.int32)
    data[:, start:] = 1
    return data


def chw_index(shape):
    """For each position of Lava's flattened (W, H, C) layout, snncc's (C, H, W) flat index."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(2, 1, 0).reshape(-1)


def whc(a, shape):
    """A per-neuron array in snncc's (C, H, W) order, in Lava's (W, H, C) layout."""
    a = np.asarray(a)
    return a if a.size == 1 else a.reshape(shape).transpose(2, 1, 0)


def whc_train(stimulus, shape):
    """Input spikes (n_inputs, steps) in (C, H, W) order as a (W, H, C, steps) RingBuffer."""
    return np.asarray(stimulus, dtype=np.int32).reshape(tuple(shape) + (-1,)).transpose(2, 1, 0, 3)


def lava_columns(w, shape):
    """Weight columns for a (C, H, W) source that Lava flattens in (W, H, C) order."""
    return np.asarray(w)[:, chw_index(shape)]


def lava_rows(w, shape):
    """Weight rows for a (C, H, W) target that Lava lays out as (W, H, C)."""
    return np.asarray(w)[chw_index(shape)]


def conv_kernel(w, weight_exp):
    """An snncc (PyTorch-layout) kernel as Lava's Conv wants it: exponent baked in (Lava's
    Conv ignores weight_exp), (C_out, kW, kH, C_in) and flipped (Lava convolves)."""
    w = np.asarray(w, dtype=np.int64) << weight_exp
    return np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)).astype(np.int32)
'''


def generate(graph: Graph, neuron: str = "auto") -> str:
    """Source code of the Lava module for a fixed-point graph."""
    from . import codegen_netx  # noqa: F401  (registers sigma-delta, DelayDense, LIFReset)
    if neuron not in NEURON_CHOICES:
        raise SnnccError(f"unknown Lava neuron policy {neuron!r}",
                         f"choose one of: {', '.join(NEURON_CHOICES)}")
    order = graph.order()
    ctx = _Ctx(graph, neuron, graph.shapes(), {name: f"n_{i}" for i, name in enumerate(order)})
    for name in order:
        node = graph.node(name)
        fn = EMITTERS.get(node.kind)
        if fn is None:
            raise SnnccError(f"the Lava backend cannot emit node {name!r} of kind {node.kind!r}",
                             "this layer type is not supported on Loihi yet")
        fn(ctx, name, node)
        ctx.emitted.add(name)
    header = f'''"""Generated by snncc: the compiled network as lava-nc processes (run with fixed_pt).

Usage (Python 3.10 env with lava-nc 0.10.0):
    import lava_network
    net = lava_network.build(stimulus)   # stimulus: (n_inputs, steps) 0/1 spikes
    # connect probes to net["neurons"][name].s_out / .v / .u, then run with
    # Loihi2SimCfg(select_tag="fixed_pt") and RunSteps(num_steps=steps)

Parameters are read from params.npz beside this file.  Each Dense/Conv delivers one step
late: a layer at synaptic depth k answers input step t at step t + k.  (C, H, W) tensors are
Lava processes of shape (W, H, C); n_inputs is in (C, H, W) order.
"""
from pathlib import Path

import numpy as np
from lava.proc.dense.process import Dense
from lava.proc.io.source import RingBuffer
from lava.proc.lif.process import LIF
{chr(10).join(sorted(ctx.imports))}

PARAMS = Path(__file__).with_name("params.npz")
INPUT_SHAPE = {tuple(int(s) for s in graph.node(graph.input_names[0]).shape)}
NEURONS = {ctx.neurons!r}
{HELPERS}

def build(stimulus):
    """Build the network for one stimulus (n_inputs, steps); returns its processes."""
    steps = np.asarray(stimulus).shape[-1]
    P = dict(np.load(PARAMS))
    out = {{"neurons": {{}}, "outputs": []}}
'''
    return header + "\n".join(ctx.lines) + "\n    return out\n"


def write(graph: Graph, directory: Path, neuron: str = "auto") -> Path:
    """Write ``lava_network.py`` into ``directory`` (params.npz must be written beside it)."""
    path = Path(directory) / MODULE_NAME
    path.write_text(generate(graph, neuron))
    return path
