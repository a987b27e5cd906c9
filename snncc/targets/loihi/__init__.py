"""Intel Loihi (2) target: Lava's fixed-point LIF, 8-bit weights with exponents, 24-bit state.

The arithmetic is lava-nc 0.10.0's bit-accurate ``fixed_pt`` models (``fixedpoint.py``);
``quantize.py`` maps the canonical CUBA-LIF onto it; ``emit.py`` writes the Lava module and,
where netx can express the network, lava-dl's netx HDF5 file.
"""
from __future__ import annotations

from .. import Target, register_target


def _quantize(lowered, config=None):
    from .overflow import annotate
    from .quantize import quantize
    from .quantize_extras import needs_extras, quantize_extras
    from .quantize_sdnn import is_sdnn, quantize_sdnn
    if is_sdnn(lowered):            # sigma-delta layers: graded spikes, Lava's SigmaDelta
        return quantize_sdnn(lowered, config)
    if needs_extras(lowered):       # DelayDense synapses, LIFReset neurons
        fixed, report = quantize_extras(lowered, config)
    else:
        fixed, report = quantize(lowered, config)
    annotate(fixed, report)          # warn where the 24-bit current can wrap
    return fixed, report


def _default_config():
    from .quantize import QuantConfig
    return QuantConfig()


def _emit(compiled, directory, **options):
    from .emit import emit
    return emit(compiled, directory, **options)


def _calibrate(model, stimulus, labels=None, input_shape=None, dt=1e-3, **options):
    from .calibrate import calibrate
    return calibrate(model, stimulus, labels, input_shape, dt, **options)


LOIHI = register_target(Target(
    name="loihi", description="Intel Loihi 2 (Lava fixed_pt)", quantize=_quantize,
    default_config=_default_config, emit=_emit, runners=("sim", "fast", "torch"),
    reference="lava", calibrate=_calibrate))
