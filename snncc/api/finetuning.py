"""``snncc finetune``: fine-tuning through Loihi's exact arithmetic."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import SnnccError
from ..progress import Progress
from .common import _load, PathLike


@dataclass
class FinetuneResult:
    """``model``: ``nn.Sequential(TunedNetwork)``, the tuned float network ``snncc compile``
    turns into exactly the network it was trained through; ``out``: the file written;
    ``history``: loss and quantized training accuracy per epoch."""

    model: Any
    out: Optional[Path]
    history: Any


def finetune(model, data: PathLike, *, out: Optional[PathLike] = None, epochs: int = 5,
             lr: float = 1e-3, optimizer: str = "adam", batch_size: int = 64, seed: int = 0,
             val_fraction: float = 0.15, calibrate: "bool | PathLike" = True,
             resume: bool = False, checkpoint: Optional[PathLike] = None, trust: bool = False,
             weights: Optional[PathLike] = None, model_args: Optional[str] = None,
             input_shape: Optional[Sequence[int]] = None, dt: Optional[float] = None,
             progress: Optional[Progress] = None) -> FinetuneResult:
    """Fine-tune ``model`` through Loihi's exact arithmetic on ``data`` (``x``, ``y``).

    The forward pass is the simulator's own integers (straight-through gradients), see
    :mod:`snncc.finetune`.  It starts from the calibrated quantization (``calibrate``: True
    calibrates on up to 256 training samples, a path on that data, False keeps the default
    settings) and the tuned model carries those settings, so it compiles as it was tuned.
    ``val_fraction`` of the samples is held out; the epoch (or the untuned start) with the
    best held-out quantized accuracy is kept.
    ``model``: as for :func:`snncc.api.compile` (a file, or ``train.py:Net`` with ``weights``
    and ``model_args``).  ``out`` (a new ``.pt`` file; an existing one is refused) gets
    the tuned model; a checkpoint (``checkpoint``, default ``<out>.ckpt``) is written after
    every epoch and removed once ``out`` is written; ``resume`` continues from it.
    Raises :class:`SnnccError` for bad input; then ``out`` is not written.
    """
    from ..finetune.train import FinetuneConfig, finetune as run, tuned_from_model
    from ..loaders import load_data
    if out is not None and Path(out).exists():
        raise SnnccError(f"{out} exists; snncc does not overwrite it",
                         "choose another -o, or delete the file first")
    loaded = _load(model, trust, weights=weights, model_args=model_args)
    net = tuned_from_model(loaded, input_shape, dt)
    x, y = load_data(data, net.snncc_input_shape)
    config = None
    if calibrate is not False:
        from ..targets.loihi.calibrate import calibrate as run_calibration
        cx, cy = (x[:, :256], None if y is None else y[:256]) if calibrate is True else \
            load_data(calibrate, net.snncc_input_shape)
        config = run_calibration(loaded, cx, cy, input_shape, 1e-3 if dt is None else dt,
                                 progress=progress)[1].config
    ckpt = Path(checkpoint) if checkpoint is not None else (
        Path(str(out) + ".ckpt") if out is not None else None)
    if not 0.0 <= val_fraction < 1.0:
        raise SnnccError(f"held-out fraction {val_fraction} is outside [0, 1)",
                         "pass e.g. 0.1 (0: keep the last epoch)")
    cfg = FinetuneConfig(epochs=epochs, lr=lr, optimizer=optimizer, batch_size=batch_size,
                         seed=seed, val_fraction=val_fraction)
    tuned, history = run(net, x, y, cfg, checkpoint=ckpt, resume=resume, progress=progress,
                         config=config)
    if out is not None:
        import torch
        from ..atomic import atomic_file
        with atomic_file(out) as tmp:
            torch.save(tuned, tmp)
        if checkpoint is None and ckpt is not None:
            ckpt.unlink(missing_ok=True)
    return FinetuneResult(tuned, None if out is None else Path(out), history)
