"""A lava-dl netx file as a model: the options it is read with, and its compiled stages.

:class:`NetxOptions` are lava-dl's own ``netx.hdf5.Network`` keyword arguments that change
what a file means (CLI: ``--netx-arg NAME=VALUE``).  :class:`NetxFile` is what
``snncc.modelfile.load_model`` returns for an HDF5 model file; :func:`compile_netx` turns it
into a :class:`snncc.compiler.Compiled` whose every stage is the fixed-point graph as read
(a netx file is already quantized: snncc does not requantize it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import Graph


@dataclass
class NetxOptions:
    """``lava.lib.dl.netx.hdf5.Network`` keyword arguments that change what a file means
    (same names and defaults as lava-dl 0.6.0)."""

    num_layers: Optional[int] = None
    skip_layers: int = 0
    input_message_bits: int = 0
    reset_interval: Optional[int] = None
    reset_offset: int = 0
    spike_exp: int = 6

    @classmethod
    def parse(cls, items: list[str]) -> "NetxOptions":
        """From ``["num_layers=5", ...]`` (CLI ``--netx-arg``); SnnccError on anything else."""
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict = {}
        for item in items or []:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise SnnccError(f"--netx-arg {item!r}: not one of lava-dl netx Network's "
                                 f"arguments snncc reads ({', '.join(sorted(names))})",
                                 "pass NAME=VALUE, e.g. --netx-arg num_layers=5")
            try:
                values[key] = None if raw.strip().lower() == "none" else int(raw)
            except ValueError:
                raise SnnccError(f"--netx-arg {item!r}: {raw!r} is not an integer",
                                 "pass NAME=INTEGER") from None
        opts = cls(**values)
        if opts.reset_interval is not None and opts.reset_interval < 1:
            raise SnnccError("--netx-arg reset_interval must be >= 1", "pass a positive interval")
        if not 0 <= opts.spike_exp <= 7 or opts.input_message_bits < 0 or opts.skip_layers < 0:
            raise SnnccError("--netx-arg: spike_exp lies in 0..7, input_message_bits and "
                             "skip_layers are >= 0", "pass values lava-dl accepts")
        return opts


@dataclass
class NetxFile:
    """A netx model file given to a CLI verb: read (once) with its :class:`NetxOptions`."""

    path: Path
    options: Optional[NetxOptions] = None     # None: what the file says it needs, else defaults
    _graph: Optional[Graph] = None

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if self.options is None:
            from .netx_read import file_options
            self.options = file_options(self.path)

    def graph(self) -> Graph:
        if self._graph is None:
            from .netx_read import read_netx
            self._graph = read_netx(self.path, self.options)
        return self._graph

    @property
    def notes(self) -> list[str]:
        return list(self.graph().meta["netx"]["notes"])


def _feeding_synapse(graph: Graph, name: str):
    ins = graph.inputs_of(name)
    return graph.node(ins[0]) if ins else None


def compile_netx(model: NetxFile, target: str = "loihi"):
    """The :class:`snncc.compiler.Compiled` of a netx file: every stage is the graph as read.

    The per-layer table says ``exact`` (read as is) with zero quantization error; weight
    exponents and sign modes are those Lava's Dense will use.  Raises SnnccError for a target
    other than Loihi (netx holds Loihi's integers).
    """
    from snncc.compiler import Compiled
    from snncc.ir.nodes import EXACT
    from snncc.passes.lower import LayerMapping
    from snncc.targets.loihi import fixedpoint as fx
    from snncc.targets.loihi.quantize import LayerQuant, ParamError, QuantReport
    if target != "loihi":
        raise SnnccError(f"{model.path} is a lava-dl netx file: Loihi fixed point, not a "
                         f"network for target {target!r}", "compile it with --target loihi")
    graph = model.graph()
    mapping, layers = [], []
    for name in graph.meta["netx"]["blocks"]:
        node = graph.node(name)
        syn = _feeding_synapse(graph, name)
        weight = getattr(syn, "weight", None)
        mapping.append(LayerMapping(name, f"netx {node.kind}", EXACT,
                                    "read as is (no requantization)"))
        layers.append(LayerQuant(
            name, 1.0, 1.0, int(getattr(syn, "weight_exp", 0)),
            fx.sign_mode(weight) if weight is not None else "-",
            [ParamError(k, 0.0, 0.0, 0.0) for k in ("weight", "threshold", "beta", "alpha")],
            []))
    return Compiled(graph, graph, graph, mapping, QuantReport(layers), "loihi")


def float_graph(graph: Graph, dt: float) -> Graph:
    """The float network a netx file's integers stand for, for NIR export (``dt`` seconds).

    Units are v's integer units: a Dense of weight ``W`` and exponent ``e`` becomes an
    ``Affine`` of ``W * 2**e * 64`` (Lava shifts the synaptic input by 6 into u), a Conv
    likewise; a CUBA neuron becomes a ``CubaLIF`` with ``alpha = 1 - (du + 1)/4096``,
    ``beta = 1 - dv/4096``, ``threshold = vth * 64``, ``bias = bias_mant << bias_exp`` and a
    zero reset (Lava's LIF).  An input neuron fed without a synapse gets a ``Scale`` of 64.
    Delayed synapses become ``DelayAffine`` (exported as ``nir.Delay`` next to the Linear:
    :mod:`snncc.backends.nir.delay`).  What NIR 1.0 cannot hold is refused by name:
    sigma-delta neurons, periodic resets, delays that vary per synapse.  The float network drops Loihi's rounding toward zero and its one
    step of latency per synapse (NIR has neither).
    """
    from snncc.ir import (Affine, Conv2d, CubaLIF, DelayAffine, Flatten, FxConv, FxDelayDense,
                          FxDense, FxGradedNeuron, FxLIFReset, FxNeuron, Input, Output, Scale)
    from snncc.targets.loihi import fixedpoint as fx
    out = Graph({"dt": float(dt), "source": "netx", "netx": graph.meta.get("netx", {})})
    shapes = graph.shapes()
    for node in graph.nodes():
        ins = graph.inputs_of(node.name)
        if isinstance(node, (FxDense, FxDelayDense)) and len(shapes[ins[0]]) > 1:
            out.add(Flatten(f"{node.name}_flatten"), ins)     # netx's flatten: (C, H, W) order
            ins = [f"{node.name}_flatten"]
        if isinstance(node, Input):
            out.add(Input(node.name, shape=node.shape))
        elif isinstance(node, Output):
            out.add(Output(node.name), ins)
        elif isinstance(node, FxDense):
            w = fx.lava_effective_weights(node.weight).astype(np.float64)
            out.add(Affine(node.name, weight=w * 2.0 ** node.weight_exp * 2 ** fx.ACT_SHIFT), ins)
        elif isinstance(node, FxConv):
            w = np.asarray(node.weight, np.float64) * 2.0 ** node.weight_exp * 2 ** fx.ACT_SHIFT
            out.add(Conv2d(node.name, weight=w, stride=node.stride, padding=node.padding,
                           groups=node.groups), ins)
        elif isinstance(node, FxGradedNeuron):
            raise SnnccError(f"layer {node.name!r}: a sigma-delta neuron ({node.kind}) has no "
                             "NIR 1.0 form", "export the spiking (CUBA) layers only, or keep "
                             "the network as netx")
        elif isinstance(node, FxLIFReset):
            raise SnnccError(f"layer {node.name!r}: a periodic reset (reset_interval) has no "
                             "NIR 1.0 form", "export without --netx-arg reset_interval")
        elif isinstance(node, FxDelayDense):     # NIR's Delay next to the Linear (see nir/delay)
            w = fx.lava_effective_weights(node.weight).astype(np.float64)
            out.add(DelayAffine(node.name, weight=w * 2.0 ** node.weight_exp * 2 ** fx.ACT_SHIFT,
                                delay=np.asarray(node.delay, np.int64)), ins)
        elif isinstance(node, FxNeuron):
            if not node.is_stock_lif:
                raise SnnccError(f"layer {node.name!r}: not Lava's stock LIF", "keep it as netx")
            src = ins[0]
            if isinstance(graph.node(graph.inputs_of(node.name)[0]), Input):
                src = f"{node.name}_in"
                out.add(Scale(src, factor=np.full(int(np.prod(node.shape)),
                                                  float(2 ** fx.ACT_SHIFT))), ins)
            flat = lambda a: np.asarray(a, np.float64).reshape(node.shape)   # noqa: E731
            out.add(CubaLIF(node.name, shape=tuple(node.shape),
                            alpha=1.0 - flat(np.asarray(node.du) + fx.DU_OFFSET) / fx.DECAY_UNITY,
                            beta=1.0 - flat(node.dv) / fx.DECAY_UNITY,
                            threshold=flat(np.asarray(node.vth) << fx.VTH_SHIFT),
                            bias=flat(fx.effective_bias(node.bias_mant, node.bias_exp))),
                    [src] + ins[1:])
        else:
            raise SnnccError(f"node {node.name!r} ({node.kind}) has no NIR form",
                             "keep the network as netx")
    for src, dst, _, rec in graph.edges():
        if rec:
            out.add_recurrent(src, dst)
    return out


def netx_build(build, load, netx_args):
    """For ``snncc run``: the :class:`NetxFile` when ``build`` is a netx (HDF5) file, loaded
    with ``load(path)``; None for a build folder.  Refuses another file, and ``--netx-arg``
    with a build folder, by name."""
    from snncc.hdf5_safety import is_hdf5
    if Path(build).is_file():
        if not is_hdf5(build):
            raise SnnccError(f"{build} is a file, not a build folder (written by `snncc "
                             "compile`) nor a lava-dl netx (HDF5) file",
                             f"run `snncc compile {build} -o build` first, then `snncc run build`")
        return load(build)
    if netx_args:
        raise SnnccError("--netx-arg applies to lava-dl netx files only",
                         "drop --netx-arg (a build folder holds its options)")
    return None
