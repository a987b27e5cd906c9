"""The one-call API behind every CLI verb.

What a command decides and writes lives here; :mod:`snncc.cli` only parses options and
prints the results, so the Python API and the CLI cannot drift apart::

    from snncc import api
    result = api.compile("model.pt", target="loihi", out="build/")
    report = api.verify("model.pt", "test.npz").report
    spikes = api.run("build/", "test.npz").spikes

``model`` arguments take a path (``.pt`` saved with ``torch.save(model)``, ``.nir``), a class
spec (``"train.py:Net"`` or ``"package.module:factory"``, with ``weights=`` a state_dict
file and ``model_args=`` its constructor arguments as JSON), or an already loaded object
(an ``nn.Module``, a :class:`~snncc.modelfile.NirFile`).  Every user
error is raised as :class:`~snncc.errors.SnnccError`; outputs are complete or absent.

One module per verb: :mod:`~snncc.api.compiling`, :mod:`~snncc.api.verifying`,
:mod:`~snncc.api.running`, :mod:`~snncc.api.nir_export`, :mod:`~snncc.api.inspecting`,
:mod:`~snncc.api.finetuning`; what they share (loading a model argument, option checks)
is :mod:`~snncc.api.common`.  Every public name is importable from ``snncc.api``.
"""
from __future__ import annotations

from .common import PathLike, parse_shape
from .compiling import CompileResult, compile, layer_rows
from .finetuning import FinetuneResult, finetune
from .inspecting import InspectResult, inspect
from .nir_export import export_nir
from .running import RunResult, run
from .verifying import VerifyResult, verify

__all__ = ["compile", "verify", "run", "export_nir", "inspect", "finetune", "parse_shape",
           "layer_rows", "CompileResult", "VerifyResult", "RunResult", "InspectResult",
           "FinetuneResult", "PathLike"]
