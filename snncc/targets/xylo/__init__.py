"""SynSense Xylo target (v2 core: Xylo Audio 2, Xylo IMU, Xylo Audio 3).

One sub-target per chip, registered under its own name (``xylo`` is Xylo Audio 2):
``fixedpoint.py`` is the core's integer neuron (xylosim 0.1.3), ``quantize.py`` lowers the
canonical CUBA-LIF onto it, ``mapping.py`` places layers on the chip and checks its design
rules, ``emit.py`` writes the chip specification (``xylo_spec.json``).  The runners are
snncc's simulator ``xylo`` and SynSense's ``xylosim`` (the reference).
"""
from __future__ import annotations

from .. import Target, register_target
from .fixedpoint import CHIPS, STATE_MAX


def _quantizer(chip: str):
    def quantize(lowered, config=None):
        from dataclasses import replace
        from .quantize import QuantConfig, quantize as run
        return run(lowered, replace(config or QuantConfig(), chip=chip))
    return quantize


def _default_config():
    from .quantize import QuantConfig
    return QuantConfig()


def _emit(compiled, directory, **options):
    from .emit import emit
    return emit(compiled, directory, **options)


def _threshold_units(node):
    """Integer units of one float threshold: the reset step ``threshold`` of the node."""
    import numpy as np
    return np.asarray(node.threshold, np.float64).reshape(-1)


for _name, _chip in CHIPS.items():
    register_target(Target(
        name=_name, description=f"SynSense {_chip.title} ({_chip.part}, xylosim v2 core)",
        quantize=_quantizer(_chip.name), default_config=_default_config, emit=_emit,
        runners=("xylo",), reference="xylosim", threshold_units=_threshold_units,
        v_max=STATE_MAX))
