"""Training-ready spiking neuron modules.

Stepping convention: one time step per ``forward`` call, state held in the module,
``snncc.nn.reset(model)`` before each new sample.
"""
from .base import StatefulNeuron, reset
from .lif import LIF, CubaLIF
from .plif import PLIF
from .dalif import DALIF
from .klif import KLIF
from .glif import GLIF
from .surrogate import spike
from .recurrent import RLIF, RCubaLIF
from .pool import SumPool2d
from .readout import LI, CubaLI
from .sigma_delta import Delta, Sigma, SigmaDelta
from .delays import DelayedLinear
from .periodic import CubaLIFReset

__all__ = ["StatefulNeuron", "reset", "LIF", "CubaLIF", "spike"]
__all__ += ["PLIF", "DALIF", "KLIF", "GLIF"]
__all__ += ["RLIF", "RCubaLIF", "SumPool2d", "LI", "CubaLI"]
__all__ += ["Delta", "Sigma", "SigmaDelta", "DelayedLinear", "CubaLIFReset"]
from .tuned import TunedNetwork    # what `snncc finetune` writes (snncc/finetune)
__all__ += ["TunedNetwork"]
