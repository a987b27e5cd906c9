"""The fake-quant forward: the simulator's integer arithmetic, bit for bit, with gradients.

Each call quantizes the network's current float values with snncc's own quantizer (the very
function ``snncc compile`` runs) and steps the result in the partially quantized simulator
(:mod:`snncc.targets.loihi.partial`) with every class quantized: 8-bit weights with their
exponent (and the fine Dense of extended precision), 12-bit decays, Lava's truncation toward
zero, the 24-bit wrap of u and saturation of v, the strict ``>``, the synaptic delay of every
Dense and delay line.  The forward values are therefore those of the bit-accurate simulator
(float64 holds them exactly).

Gradients are straight-through (Bengio et al., 2013): every integer array ``q`` enters as
``q + (f(theta) - f(theta).detach())``, which is exactly ``q`` in value, with ``f`` the real
value the quantizer rounded (its float twin: ``w S / 2**(e+6)`` for a weight, ``threshold *
S`` for a threshold, ``4096 alpha`` for a current decay; ``S`` held constant), so the loss sees
``d q / d theta = d f / d theta``.  Rounding, wrap and saturation pass gradients through;
the spike (``v > vth``) has the fast-sigmoid surrogate ``1 / (1 + k |v - vth| / vth)**2``
(Zenke & Ganguli, SuperSpike, 2018) with ``k = SLOPE``.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np
import torch

from ..ir import FxConv, FxDense, FxNeuron
from ..ir.nodes import RESET_SUBTRACT
from ..targets.loihi import fixedpoint as fx
from ..targets.loihi.partial import Arith, layer_of, resolve, simulate_params
from ..targets.loihi.quantize import QuantConfig, quantize
from ..targets.loihi.weights import FINE_SUFFIX
from ..nn.tuned import TunedNetwork

SLOPE = 10.0


class _Round(torch.autograd.Function):
    """trunc or floor in value, identity in gradient."""

    @staticmethod
    def forward(ctx, x, floor: bool):
        return torch.floor(x) if floor else torch.trunc(x)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class _Spike(torch.autograd.Function):
    """``v > vth`` in value; the fast-sigmoid surrogate in gradient (relative to vth)."""

    @staticmethod
    def forward(ctx, v, vth):
        ctx.save_for_backward(v, vth)
        return (v > vth).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        v, vth = ctx.saved_tensors
        scale = torch.clamp(vth.abs(), min=1.0)
        x = (v - vth) / scale
        g = grad / (scale * (1.0 + SLOPE * x.abs()) ** 2)
        return g, -g


class _Saturate(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v):
        return torch.clamp(v, -fx.V_MAX, fx.V_MAX)

    @staticmethod
    def backward(ctx, grad):
        return grad


class SteArith(Arith):
    """:class:`~snncc.targets.loihi.partial.Arith` with straight-through gradients."""

    def trunc(self, x):
        return _Round.apply(x, False)

    def floor(self, x):
        return _Round.apply(x, True)

    def saturate(self, v):
        return _Saturate.apply(v)

    def spike(self, v, vth):
        return _Spike.apply(v, vth.expand_as(v) if vth.dim() else vth)


def _ste(q: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """``q`` in value, ``d f`` in gradient (``f - f.detach()`` is exactly 0 in float64)."""
    return q + (f - f.detach())


class FakeQuant:
    """The fake-quant forward of a :class:`TunedNetwork` (see the module docstring)."""

    def __init__(self, network: TunedNetwork, config: Optional[QuantConfig] = None) -> None:
        from ..compiler import declared_config
        self.network = network
        config = config or declared_config(network) or QuantConfig()
        self.config = dataclasses.replace(config, float_twins=True)

    def quantized(self):
        """(fixed graph, quantizer report) of the network's current values."""
        return quantize(self.network.to_graph(), self.config)

    def params(self, fixed, report) -> dict:
        """Resolved simulator tensors carrying straight-through gradients to the network."""
        params = resolve(fixed, report.twins, {})
        owner = layer_of(fixed)
        for name, p in params.items():
            node = fixed.node(name)
            if isinstance(node, (FxDense, FxConv)):
                if name.endswith(FINE_SUFFIX):
                    continue                       # the residual: no float twin of its own
                self._synapse(p, node, name, report.scales[owner[name]])
            elif isinstance(node, FxNeuron):
                self._neuron(p, node, name, report)
        self._biases(params, fixed, report)
        return params

    def _synapse(self, p, node, name: str, scale: np.ndarray) -> None:
        w = self.network.tensor(name, "weight")
        unit = 2.0 ** (node.weight_exp + fx.ACT_SHIFT)
        if isinstance(node, FxConv):
            per_channel = scale.reshape(w.shape[0], -1)[:, 0]
            f = w * torch.as_tensor(per_channel).reshape(-1, 1, 1, 1) / unit
        else:
            f = w * torch.as_tensor(scale).reshape(-1, 1) / unit
        p.parts[0] = _ste(p.parts[0], f)

    def _biases(self, params: dict, fixed, report) -> None:
        """Every synapse's float bias reaches its layer's bias axon (or neuron bias)."""
        for neuron in fixed.of_type(FxNeuron):
            feeders = fixed.inputs_of(neuron.name)
            scale = torch.as_tensor(report.scales[neuron.name])
            total = None
            for syn in feeders:
                b = self.network.tensor(syn, "bias") if not syn.endswith(FINE_SUFFIX) else None
                if b is None:
                    continue
                if b.dim() == 1 and isinstance(fixed.node(syn), FxConv):
                    b = b.repeat_interleave(scale.numel() // b.numel())
                total = b.reshape(-1) if total is None else total + b.reshape(-1)
            if total is None:
                continue
            axon = next((s for s in feeders if getattr(fixed.node(s), "bias", None) is not None),
                        None)
            if axon is not None:
                params[axon].bias = _ste(params[axon].bias, total * scale / 2.0 ** fx.ACT_SHIFT)
            else:                               # the neuron bias carries it
                tw = report.twins[neuron.name]
                params[neuron.name].bias = _ste(params[neuron.name].bias,
                                                total * scale / torch.as_tensor(tw["dc_bias"]))

    def _neuron(self, p, node: FxNeuron, name: str, report) -> None:
        net, tw = self.network, report.twins[name]
        scale = torch.as_tensor(report.scales[name])
        g_thr = torch.as_tensor(tw["dc_threshold"])
        one = float(fx.DECAY_UNITY)
        alpha, beta = net.tensor(name, "alpha").reshape(-1), net.tensor(name, "beta").reshape(-1)
        p.fu = _ste(p.fu, one * alpha)
        p.fv = _ste(p.fv, one * beta)
        thr = net.tensor(name, "threshold").reshape(-1) * scale / g_thr
        p.vth = _ste(p.vth, thr)
        entry = next(e for e in net_structure(net)["nodes"] if e["name"] == name)
        if entry["reset"] == RESET_SUBTRACT:
            p.sub = _ste(p.sub, thr)
        own = net.tensor(name, "bias").reshape(-1)
        p.bias = _ste(p.bias, own * scale / torch.as_tensor(tw["dc_bias"]))

    def __call__(self, stimulus: torch.Tensor, fixed=None, report=None, train: bool = True
                 ) -> dict[str, torch.Tensor]:
        """Each neuron layer's spikes (T, B, n) float64 on the float model's time base (the
        stimulus (T, B, ...) is padded by the deepest synaptic depth and realigned)."""
        from ..verify import synaptic_depth
        if fixed is None:
            fixed, report = self.quantized()
        params = self.params(fixed, report)
        depth = synaptic_depth(fixed)
        names = [n.name for n in fixed.of_type(FxNeuron)]
        pad = max(depth[n] for n in names)
        steps = stimulus.shape[0]
        x = torch.cat([stimulus.to(torch.float64),
                       stimulus.new_zeros((pad,) + tuple(stimulus.shape[1:])).to(torch.float64)])
        spikes, _ = simulate_params(fixed, params, x, SteArith() if train else Arith())
        return {n: spikes[n][depth[n]:depth[n] + steps] for n in names}


def net_structure(net: TunedNetwork) -> dict:
    import json
    return json.loads(net.structure)
