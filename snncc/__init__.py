"""snncc: a compiler for spiking neural networks (PyTorch -> graph IR -> Loihi fixed point).

The core (``snncc.ir``, ``snncc.targets.*.fixedpoint``, ``snncc.backends.sim``) needs only numpy and
networkx; torch is imported only by the frontend, ``snncc.nn`` and the verifier.
"""
__version__ = "0.1.0"
