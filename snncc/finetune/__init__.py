"""Fine-tuning through Loihi's exact arithmetic (``snncc finetune``).

:class:`TunedNetwork` is the compiler's composed float graph as a trainable module;
:class:`FakeQuant` its forward pass in the simulator's integers with straight-through
gradients; :func:`finetune` the training loop.  See ``docs/fidelity.md``.
"""
from ..nn.tuned import TunedNetwork

__all__ = ["TunedNetwork", "FakeQuant", "finetune", "FinetuneConfig"]


def __getattr__(name):
    if name == "FakeQuant":
        from .fakequant import FakeQuant
        return FakeQuant
    if name in ("finetune", "FinetuneConfig"):
        from . import train
        return getattr(train, name)
    raise AttributeError(name)
