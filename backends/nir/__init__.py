"""NIR backend: the float IR to NIR and back.

NIR stores continuous-time ODEs and no ``dt``, integrator, reset flavour or delay; snncc
writes them into the graph and node metadata (see :mod:`.conventions`) so what it exports
comes back exactly, and other tools can read what they need. ``nir`` is imported lazily:
the Python 3.10 Lava env does not have it.
"""
from .export import to_nir, write_nir
from .importer import from_nir
from .reader import read_nir
from . import spatial  # noqa: F401  (registers Conv2d, pooling, Flatten, batch-norm, Scale)

__all__ = ["to_nir", "write_nir", "from_nir", "read_nir"]
