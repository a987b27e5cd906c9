"""The compile pipeline as one function: trace -> validate -> lower -> quantize (per target)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from .ir import Graph
from .passes import LayerMapping, lower_neurons, validate_float


@dataclass
class Compiled:
    """Every stage's graph, kept so verification can compare them layer by layer."""

    float_graph: Graph     # as traced
    lowered: Graph         # canonical neurons, folds applied (still float)
    fixed: Graph           # the target's fixed point
    mapping: list[LayerMapping]
    quant: Any             # the target's QuantReport
    target: str = "loihi"
    self_check: Any = None  # snncc.frontend.selfcheck.SelfCheck of a traced torch model

    def _repr_html_(self) -> str:
        from .notebook import compiled_html
        return compiled_html(self)


def compile_graph(graph: Graph, config: Optional[Any] = None, target: str = "loihi") -> Compiled:
    """Compile a float IR graph (from any frontend) to ``target``'s fixed point.

    Raises :class:`~snncc.errors.SnnccError` for graphs the target cannot express.
    """
    from .targets import check_spikes_per_step, get_target
    validate_float(graph)
    lowered, mapping = lower_neurons(graph)
    check_spikes_per_step(lowered, get_target(target))
    fixed, report = get_target(target).quantize(lowered, config)
    if hasattr(report, "remap"):        # a target with its own mapping classes (Xylo)
        mapping = report.remap(mapping)
    return Compiled(graph, lowered, fixed, mapping, report, target)


def compile_model(model, input_shape: Optional[Sequence[int]] = None,
                  dt: Optional[float] = 1e-3, config: Optional[Any] = None,
                  target: str = "loihi", check: bool = True) -> Compiled:
    """Trace a single-step torch model (or read a ``.nir`` :class:`~snncc.modelfile.NirFile`,
    whose ``dt`` comes from its metadata unless given) and compile it for ``target``; a
    lava-dl netx file (:class:`~snncc.backends.lava.netx_model.NetxFile`) is read as is.

    A torch model is then run side by side with snncc's lowered float graph on a short probe
    (:func:`snncc.frontend.selfcheck.self_check`): any difference beyond float rounding
    raises :class:`~snncc.errors.SnnccError` naming the layer, step and neuron.
    ``check=False`` skips it (for callers that run the same comparison on more data).
    """
    from .backends.lava.netx_model import NetxFile
    from .modelfile import NirFile
    if isinstance(model, NirFile):
        compiled = compile_graph(model.graph(dt), config, target)
        stored = model.quantized(target, dt) if config is None else None
        if stored is not None:           # the file's own integer program, bit for bit
            compiled.fixed = stored
        return compiled
    if isinstance(model, NetxFile):   # already Loihi fixed point: read as is, no requantization
        from .backends.lava.netx_model import compile_netx
        return compile_netx(model, target)
    from .frontend import trace   # torch is imported only when a torch model is compiled
    if config is None and target == "loihi":
        config = declared_config(model)
    compiled = compile_graph(trace(model, input_shape, dt), config, target)
    if check:
        from .frontend.selfcheck import self_check
        compiled.self_check = self_check(model, compiled.lowered)
    return compiled


def declared_config(model) -> Optional[Any]:
    """The Loihi quantizer settings a model carries (``snncc_quant_config`` of a module, e.g.
    a fine-tuned :class:`snncc.nn.TunedNetwork`: compiled as it was tuned), or None."""
    declared = next((m.snncc_quant_config for m in model.modules()
                     if isinstance(getattr(m, "snncc_quant_config", None), dict)
                     and m.snncc_quant_config), None)
    if declared is None:
        return None
    import dataclasses
    from .targets.loihi.quantize import QuantConfig
    known = {f.name for f in dataclasses.fields(QuantConfig)}
    return QuantConfig(**{k: (tuple(v) if k == "weight_exp_range" else v)
                          for k, v in declared.items() if k in known})
