"""Lava emitters (``lava_network.py``) for the node kinds netx brings: Lava's ``SigmaDelta``,
``Delta`` and ``Sigma`` (graded spikes), ``DelayDense`` and ``LIFReset``.  Registered in
:data:`snncc.backends.lava.codegen.EMITTERS` when this module is imported (``generate`` does).

Each emits the stock lava-nc 0.10.0 process with the IR node's parameters unchanged (the IR
holds the process arguments: see :mod:`snncc.ir.sigma_delta`, :mod:`snncc.ir.delays`,
:mod:`snncc.ir.reset`).  Lava declares ``vth`` of the sigma-delta processes as one value per
process, so a layer with per-neuron thresholds is refused here rather than emitted wrongly.
"""
from __future__ import annotations

import numpy as np

from snncc.errors import SnnccError
from snncc.ir import FxDelayDense, FxDelta, FxLIFReset, FxSigma, FxSigmaDelta

from .codegen import _Ctx, _target, emitter, lava_shape

SDN = "from lava.proc.sdn.process import ActivationMode, Delta, Sigma, SigmaDelta"


def _shape(node) -> tuple[int, ...]:
    return lava_shape(node.shape) if len(node.shape) == 3 else tuple(int(s) for s in node.shape)


def _scalar(node, field: str) -> int:
    values = np.unique(np.asarray(getattr(node, field)))
    if len(values) != 1:
        raise SnnccError(f"layer {node.name!r}: per-neuron {field} (Lava's {node.lava_process} "
                         "takes one value per process)", "use one value per layer")
    return int(values[0])


def _finish(ctx: _Ctx, name: str) -> None:
    ctx.connect_sources(name)
    ctx.emit(f'out["neurons"][{name!r}] = {ctx.var[name]}')
    ctx.neurons.append(name)


@emitter(FxSigmaDelta.kind)
def _sigma_delta(ctx: _Ctx, name: str, node: FxSigmaDelta) -> None:
    ctx.imports.add(SDN)
    mode = "RELU" if node.act_mode == "relu" else "UNIT"
    ctx.emit(f"{ctx.var[name]} = SigmaDelta(shape={_shape(node)}, vth={_scalar(node, 'vth')}, "
             f"bias={ctx.array(node, 'bias')}, act_mode=ActivationMode.{mode}, "
             f"cum_error={bool(node.cum_error)}, spike_exp={node.spike_exp}, "
             f'state_exp={node.state_exp}, name="{name}")')
    _finish(ctx, name)


@emitter(FxDelta.kind)
def _delta(ctx: _Ctx, name: str, node: FxDelta) -> None:
    ctx.imports.add(SDN)
    ctx.emit(f"{ctx.var[name]} = Delta(shape={_shape(node)}, vth={_scalar(node, 'vth')}, "
             f"cum_error={bool(node.cum_error)}, spike_exp={node.spike_exp}, "
             f"state_exp={node.state_exp})  # {name!r} (Lava's Delta takes no name)")
    _finish(ctx, name)


@emitter(FxSigma.kind)
def _sigma(ctx: _Ctx, name: str, node: FxSigma) -> None:
    ctx.imports.add(SDN)
    ctx.emit(f"{ctx.var[name]} = Sigma(shape={_shape(node)})  # {name!r} (Lava's Sigma takes no name)")
    _finish(ctx, name)


@emitter(FxLIFReset.kind)
def _lif_reset(ctx: _Ctx, name: str, node: FxLIFReset) -> None:
    ctx.imports.add("from lava.proc.lif.process import LIFReset")
    args = ", ".join(f"{k}={ctx.scalar_or_array(node, k)}" for k in ("du", "dv", "vth"))
    ctx.emit(f"{ctx.var[name]} = LIFReset(shape={_shape(node)}, {args}, "
             f"bias_mant={ctx.array(node, 'bias_mant')}, bias_exp={ctx.array(node, 'bias_exp')}, "
             f"reset_interval={node.reset_interval}, reset_offset={node.reset_offset}, "
             f'name="{name}")')
    _finish(ctx, name)


@emitter(FxDelayDense.kind)
def _delay_dense(ctx: _Ctx, name: str, node: FxDelayDense) -> None:
    ctx.imports.add("from lava.proc.dense.process import DelayDense")
    v, (src,) = ctx.var[name], ctx.graph.inputs_of(name)
    dst = _target(ctx, name)
    w, d = f'P["{name}.weight"]', f'P["{name}.delay"]'
    if ctx.is_image(src):
        w, d = f"lava_columns({w}, {ctx.shapes[src]})", f"lava_columns({d}, {ctx.shapes[src]})"
    if ctx.is_image(dst):
        w, d = f"lava_rows({w}, {ctx.shapes[dst]})", f"lava_rows({d}, {ctx.shapes[dst]})"
    port = f"a_out.reshape({lava_shape(ctx.shapes[dst])})" if ctx.is_image(dst) else "a_out"
    ctx.emit(f"# delayed synapses {name!r}: delays {int(np.min(node.delay, initial=0))}.."
             f"{node.max_delay} steps (+1), weight_exp {node.weight_exp}")
    ctx.emit(f"syn = DelayDense(weights={w}, delays={d}.astype(int), max_delay={node.max_delay}, "
             f"weight_exp={node.weight_exp}, num_message_bits={ctx.message_bits(src)}, "
             f'name="{name}")')
    ctx.emit(f"{ctx.spikes(src, flat=True)}.connect(syn.s_in)")
    ctx.emit(f"{v} = [syn.{port}]")
    ctx.connect_into_neuron(name)
