"""``snncc inspect``: compile without writing and estimate the chip's resources."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import SnnccError
from .common import _input_shape, PathLike, _xylo_targets
from .compiling import compile, CompileResult


@dataclass
class InspectResult:
    """``parameters``: node name -> parameter count; ``resources``: Loihi's resource and
    time/energy estimate (report.json's ``resources`` section, see
    :func:`snncc.targets.loihi.resources.resources`); ``placement``: a Xylo target's
    resources; ``placement_error``: why the network does not fit Loihi 2, if it does not."""

    compile: CompileResult
    parameters: dict[str, int]
    resources: Optional[dict] = None
    placement: Any = None
    placement_error: Optional[str] = None


def inspect(model, *, target: str = "loihi", trust: bool = False,
            weights: Optional[PathLike] = None, model_args: Optional[str] = None,
            input_shape: Optional[Sequence[int]] = None,
            dt: Optional[float] = None, convention: Optional[str] = None,
            reset: Optional[str] = None, max_spikes_per_dt: Optional[int] = None,
            producer: Optional[str] = None, system: Optional[str] = None,
            steps: Optional[int] = None, rate: Optional[float] = None,
            data: Optional[PathLike] = None,
            netx_args: Optional[Sequence[str]] = None) -> InspectResult:
    """Compile ``model`` without writing anything and estimate its chip resources.

    Loihi: tiles, cores and chips per layer and per core, and time and energy per step and
    per inference of ``steps`` steps.  Firing rates are measured on ``data`` (an ``.npz``,
    run on the fast simulator; ``steps`` defaults to its length) or assumed (``rate`` spikes
    per neuron per step, default 0.1).  ``system``: ``oheo-gulch``, ``kapoho-point`` or
    ``hala-point`` to check the network against that system's chips.  Xylo: the chip's
    resources in ``placement``.  ``convention``/``reset``/``max_spikes_per_dt``/``producer``:
    how a ``.nir`` model is read (as in :func:`compile`).
    """
    result = compile(model, target=target, trust=trust, weights=weights, model_args=model_args,
                     input_shape=input_shape, dt=dt, convention=convention, reset=reset,
                     max_spikes_per_dt=max_spikes_per_dt, producer=producer,
                     netx_args=netx_args)
    graph = result.compiled.float_graph
    params = {n.name: sum(int(np.size(a)) for a in n.arrays().values()) for n in graph.nodes()}
    info = InspectResult(result, params)
    if target in _xylo_targets():
        from ..targets.xylo.mapping import resources
        info.placement = resources(result.compiled.fixed)
    if target == "loihi" and any(getattr(n, "graded", False) for n in result.compiled.fixed.nodes()):
        info.placement_error = "not estimated: the Loihi 2 estimate does not cover sigma-delta layers yet"
    elif target == "loihi":
        from ..targets.loihi.energy import DEFAULT_RATE, Activity
        from ..targets.loihi.resources import measured_activity, resources
        fixed = result.compiled.fixed
        if steps is not None and steps < 1:
            raise SnnccError(f"--steps {steps}: an inference needs at least one step",
                             "give --steps 1 or more")
        if rate is not None and not 0 <= rate <= 1:
            raise SnnccError(f"--rate {rate} is not a firing rate",
                             "give spikes per neuron per step, between 0 and 1")
        if data is not None:
            from ..loaders import load_data
            x, _ = load_data(data, _input_shape(result.compiled),
                             graded=bool(result.compiled.fixed.meta.get("graded_input")))
            activity = measured_activity(fixed, x)
            steps = steps or int(x.shape[0])
        else:
            r = DEFAULT_RATE if rate is None else float(rate)
            activity = Activity(default=r, source=f"assumed: {r:g} spikes per neuron per step")
        info.resources = resources(fixed, activity=activity, steps=steps or 1, system=system)
        info.placement_error = info.resources["error"]
    return info
