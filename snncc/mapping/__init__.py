"""Resource mapping: placing a compiled (fixed-point) network on neuromorphic chips."""
from .loihi2 import (LOIHI2, CoreEstimate, LayerPlacement, Loihi2Limits, Placement,
                     map_loihi2, register_synapse_estimator)
from . import spatial  # noqa: F401  (registers the conv and delay-line estimators)

__all__ = ["LOIHI2", "CoreEstimate", "LayerPlacement", "Loihi2Limits", "Placement",
           "map_loihi2", "register_synapse_estimator"]
