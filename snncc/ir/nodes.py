"""Typed IR nodes.

Two levels share one graph type:

* **float** nodes come from a frontend (``Affine``, the neuron nodes) and carry float
  parameter arrays, one value per neuron where the model learned them per neuron;
* **fixed-point** nodes (``FxDense``, ``FxNeuron``) are what the quantizer emits; their
  arrays are integers in Loihi's formats and the simulator and the Lava backend execute them.

Every concrete node class registers itself under its ``kind`` (see :data:`NODE_KINDS`), so
serialization, printing and the backends look nodes up in a registry instead of if-chains.
Nodes are plain dataclasses: passes build new nodes rather than mutate old ones.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Optional

import numpy as np

Shape = tuple[int, ...]
NODE_KINDS: dict[str, type["Node"]] = {}

# How a neuron reaches the hardware; every neuron node states one (see issue "seed neurons").
EXACT = "exact"                      # the same equations, only quantization in between
EXACT_AFTER_FOLDING = "exact after folding"   # exact once constants are folded into neighbours
GENERALISED = "generalised"          # needs the generalised fixed-point neuron (not stock LIF)
APPROXIMATE = "approximate"          # changes the dynamics; reported with a measured error

RESET_ZERO, RESET_SUBTRACT, RESET_CUSTOM = "zero", "subtract", "custom"
RESET_MODES = (RESET_ZERO, RESET_SUBTRACT, RESET_CUSTOM)


@dataclass
class Node:
    """Base of all IR nodes: a unique ``name``; ``shape`` is the output shape (no batch/time)."""

    name: str
    kind: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("kind"):
            NODE_KINDS[cls.kind] = cls

    def infer_shape(self, in_shapes: list[Shape]) -> Shape:
        """Output shape from input shapes; nodes with a fixed shape return it."""
        raise NotImplementedError

    @property
    def delay_steps(self) -> int:
        """Time steps between this node's input and its output on Loihi's timing (synapses: 1)."""
        return 0

    def arrays(self) -> dict[str, np.ndarray]:
        """The node's numpy-array fields (what serialization puts in the npz file)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if isinstance(getattr(self, f.name), np.ndarray)}

    def describe(self) -> str:
        """One short line of parameters for summaries."""
        return ", ".join(f"{k}{list(v.shape)}" for k, v in self.arrays().items())


@dataclass
class Input(Node):
    kind: ClassVar[str] = "input"
    shape: Shape = ()

    def infer_shape(self, in_shapes):
        return tuple(self.shape)

    def describe(self):
        return f"spikes{list(self.shape)}"


@dataclass
class Output(Node):
    kind: ClassVar[str] = "output"
    shape: Shape = ()

    def infer_shape(self, in_shapes):
        return in_shapes[0]

    def describe(self):
        return ""


@dataclass
class Affine(Node):
    """``y = weight @ x + bias`` (float). ``weight`` is (out, in)."""

    kind: ClassVar[str] = "affine"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    bias: Optional[np.ndarray] = None

    def infer_shape(self, in_shapes):
        n_in = int(np.prod(in_shapes[0]))
        if n_in != self.weight.shape[1]:
            raise ValueError(f"{self.name}: expects {self.weight.shape[1]} inputs, got {n_in}")
        return (self.weight.shape[0],)


@dataclass
class NeuronNode(Node):
    """Base of float neuron nodes: per-neuron arrays of the layer's shape.

    Subclasses implement :meth:`lower`, which returns the canonical :class:`CubaLIF` form,
    the input scale to fold into the preceding synapses (None if none) and the mapping class.
    """

    shape: Shape = ()
    reset: str = RESET_ZERO

    def infer_shape(self, in_shapes):
        for shape in in_shapes:     # several synapses may feed one neuron; their currents add
            if tuple(shape) != tuple(self.shape):
                raise ValueError(f"{self.name}: neuron shape {self.shape} but input {shape}")
        return tuple(self.shape)

    def lower(self) -> "Lowered":
        raise NotImplementedError


@dataclass
class Lowered:
    """Result of lowering one neuron node to the canonical form."""

    neuron: "CubaLIF"
    input_scale: Optional[np.ndarray]   # multiply incoming synapses by this (per neuron)
    mapping: str
    note: str = ""


@dataclass
class CubaLIF(NeuronNode):
    """Canonical float neuron, the form the quantizer understands (Loihi's CUBA LIF, generalised).

    Per step: ``i = alpha*i + x``; ``v = beta*v``; (delayed reset, see below); ``v += i + bias``;
    ``v = max(v, floor)`` if ``floor`` is set; spike where ``v > threshold``; reset.

    Reset: ``"zero"`` sets v = 0, ``"subtract"`` subtracts the threshold, ``"custom"`` does
    ``v = reset_mult*v - reset_sub`` (per neuron). With ``reset_delayed`` the reset of a
    spike at step t is applied at step t+1 right after the decay (snnTorch, GLIF); otherwise
    right after the spike (Loihi, SpikingJelly).

    ``input_gain`` (optional, ``(T, *shape)``): a per-step gain on the synaptic input,
    ``i = alpha*i + input_gain[t]*x`` (``input_gain[T-1]`` from step T on) -- GLIF's
    time-dependent conductance.  It scales the feeding synapses, not ``bias``.

    ``max_spikes`` (subtract reset only): the most spikes a neuron emits in one step.  Above
    1, the neuron emits the count ``c = #{k <= max_spikes : v > k*threshold}`` and subtracts
    ``c*threshold`` (SynSense Xylo's hidden neurons: up to 31; Rockpool's
    ``LIFTorch(max_spikes_per_dt=...)``); downstream synapses see the count.

    Anything beyond a zero reset at spike time, no floor, a decay ``beta <= 1`` and no
    input gain needs the generalised fixed-point neuron.
    """

    kind: ClassVar[str] = "cuba_lif"
    alpha: np.ndarray = field(default_factory=lambda: np.zeros(0))
    beta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))
    floor: Optional[float] = None
    reset_mult: Optional[np.ndarray] = None
    reset_sub: Optional[np.ndarray] = None
    reset_delayed: bool = False
    input_gain: Optional[np.ndarray] = None
    max_spikes: int = 1

    def reset_terms(self) -> tuple[np.ndarray, np.ndarray]:
        """(mult, sub) per neuron: after a spike ``v = mult*v - sub``."""
        if self.reset == RESET_ZERO:
            return np.zeros_like(self.threshold), np.zeros_like(self.threshold)
        if self.reset == RESET_SUBTRACT:
            return np.ones_like(self.threshold), self.threshold
        return np.asarray(self.reset_mult), np.asarray(self.reset_sub)

    @property
    def is_stock(self) -> bool:
        return (self.reset == RESET_ZERO and not self.reset_delayed and self.floor is None
                and self.input_gain is None and not np.any(np.asarray(self.beta) > 1))

    def lower(self) -> Lowered:
        return Lowered(self, None, EXACT if self.is_stock else GENERALISED)


@dataclass
class LIF(NeuronNode):
    """Float LIF with a memoryless current: ``v = beta*v + x + bias``
    (``max_spikes`` as :class:`CubaLIF`'s)."""

    kind: ClassVar[str] = "lif"
    beta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0))
    max_spikes: int = 1

    def lower(self) -> Lowered:
        canon = CubaLIF(self.name, shape=self.shape, reset=self.reset,
                        alpha=np.zeros_like(self.beta), beta=self.beta,
                        threshold=self.threshold, bias=self.bias, max_spikes=self.max_spikes)
        return canon.lower()


@dataclass
class FxDense(Node):
    """Fixed-point dense synapses, Lava ``Dense`` semantics.

    ``weight`` int (out, in), already in the values Lava's fixed_pt Dense will use (its
    clip/truncate is a no-op on them); ``a = (weight @ s) shifted by weight_exp``, delivered
    one time step later.

    ``split_sign``: the matrix is carried by two Dense processes, its positive part
    (excitatory mode) and its negative part (inhibitory mode), whose outputs add; each part
    then has 8 bits of magnitude, where one mixed-sign Dense has 7 (Lava drops an LSB).
    Weights lie in [-255, 255] and each part is shifted by ``weight_exp`` on its own.

    ``bias`` (optional, int (out,)) is the weight column of an always-on input axon with its
    own exponent ``bias_exp``: a second Dense fed by a source that spikes at every step from
    ``bias_start`` on.  It is how a layer's constant drive reaches it *in step with the data*:
    a layer at synaptic depth k first sees input at step k, so its bias axon fires from step
    k - 1 on (a neuron's own bias would act from step 0 and charge it k steps early).
    """

    kind: ClassVar[str] = "fx_dense"
    weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int64))
    weight_exp: int = 0
    split_sign: bool = False
    bias: Optional[np.ndarray] = None
    bias_exp: int = 0
    bias_start: int = 0

    @property
    def delay_steps(self) -> int:
        return 1

    def infer_shape(self, in_shapes):
        return (self.weight.shape[0],)


@dataclass
class FxNeuron(Node):
    """Fixed-point neuron in Loihi's LIF format with per-neuron parameters.

    After a spike, ``v = (v * reset_mult) / 4096 - reset_sub`` (rounded toward zero), at
    the spike step or, with ``reset_delayed``, at the next step right after the decay.
    A negative ``dv`` (down to -4096) makes v grow by ``(4096 - dv)/4096`` per step.

    ``input_gain`` (optional, int ``(T, n)``, 4096 = 1): at step t the synaptic input enters
    the current as ``((a_in << 6) * input_gain[k]) / 4096`` rounded toward zero, with
    ``k = clip(t - gain_start, 0, T - 1)``; ``gain_start`` is the layer's synaptic depth, so
    row k meets the data of the float model's step k.  The neuron bias acts from step
    ``bias_start`` on (Lava's LIF: from step 0).

    ``reset_mult = 0, reset_sub = 0`` at the spike step, no ``floor``, ``dv >= 0``, no input
    gain and ``bias_start = 0`` is exactly Lava's stock ``LIF`` (fixed_pt); anything else is
    the generalised neuron snncc ships as a custom Lava process (Loihi 2 programmable-neuron
    style).
    """

    kind: ClassVar[str] = "fx_neuron"
    shape: Shape = ()
    du: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    dv: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    vth: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bias_mant: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bias_exp: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reset_mult: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reset_sub: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    reset_delayed: bool = False
    floor: Optional[int] = None
    input_gain: Optional[np.ndarray] = None
    gain_start: int = 0
    bias_start: int = 0

    def infer_shape(self, in_shapes):
        return tuple(self.shape)

    @property
    def is_stock_lif(self) -> bool:
        """True when Lava's stock LIF process expresses this neuron."""
        return (not self.reset_delayed and self.floor is None
                and not np.any(self.reset_mult) and not np.any(self.reset_sub)
                and self.input_gain is None and not np.any(np.asarray(self.dv) < 0)
                and (self.bias_start == 0 or not np.any(self.bias_mant)))
