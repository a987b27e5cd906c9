"""Fine-tuning through the exact arithmetic: the training loop, checkpoints, resume.

:func:`finetune` turns a model into a :class:`TunedNetwork` (its composed float graph) and
trains it by backpropagation through time on the fake-quant forward
(:mod:`snncc.finetune.fakequant`), i.e. on the very integers and timing the compiled network
will have, with cross-entropy on the output spike counts and any ``torch.optim`` optimiser.
After every epoch a checkpoint (network, optimiser state, epoch, history) is written
atomically; ``resume`` continues from it with the same data order (epoch-seeded shuffles).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import SnnccError
from ..progress import Progress, or_quiet
from .fakequant import FakeQuant
from ..nn.tuned import TunedNetwork

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
              "rmsprop": torch.optim.RMSprop}
LOGIT_SCALE = 10.0          # logits = output spike counts / T * LOGIT_SCALE
MIN_THRESHOLD = 1e-3


@dataclass
class FinetuneConfig:
    """``epochs``, ``lr``, ``optimizer`` (a key of :data:`OPTIMIZERS`), ``batch_size``,
    ``seed`` (shuffling), ``train_decays`` (alpha, beta), ``train_thresholds``."""

    epochs: int = 5
    lr: float = 1e-3
    optimizer: str = "adam"
    batch_size: int = 64
    seed: int = 0
    train_decays: bool = True
    train_thresholds: bool = True
    # held out of the training data (seeded): measured before training and after every
    # epoch; the best state (ties: the earlier, so the untuned start wins a draw) is returned
    val_fraction: float = 0.15
    # weight of distillation from the float model (its output spike counts) in the loss; the
    # rest is cross-entropy with the labels (Hinton et al., 2015).  Measured on the digits
    # zoo, labels alone generalise best (the float model is no better a teacher than the data)
    distill: float = 0.0
    # what the held-out score ranks first: "accuracy" (quantized, on the labels) or
    # "agreement" (predictions of the float model)
    select: str = "accuracy"
    cosine: bool = True              # learning rate decays to 0 over the epochs (cosine)


@dataclass
class History:
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)      # quantized, on the training data
    val_accuracy: list[float] = field(default_factory=list)  # [0]: before fine-tuning
    val_agreement: list[float] = field(default_factory=list)  # predictions vs the float model
    best_epoch: int = 0                                       # 0: the untuned network
    seconds: float = 0.0
    best_state: Optional[dict] = None


def _evaluate(fq: FakeQuant, x: torch.Tensor, y: torch.Tensor, teacher: torch.Tensor,
              out: str, batch: int = 256) -> tuple[float, float]:
    """(quantized accuracy, prediction agreement with the float model) on ``x``, ``y``."""
    if x.shape[1] == 0:
        return 0.0, 0.0
    fixed, report = fq.quantized()
    correct = agree = 0
    with torch.no_grad():
        for i in range(0, x.shape[1], batch):
            pred = fq(x[:, i:i + batch], fixed, report, train=False)[out].sum(dim=0).argmax(dim=1)
            correct += int((pred == y[i:i + batch]).sum())
            agree += int((pred == teacher[i:i + batch].argmax(dim=1)).sum())
    return correct / x.shape[1], agree / x.shape[1]


def teacher_counts(model, stimulus: np.ndarray, out: str) -> torch.Tensor:
    """The float model's output spike counts (B, n) on ``stimulus`` (T, B, ...)."""
    from ..reference import run_float
    return torch.as_tensor(run_float(model, stimulus, [out])[out].sum(axis=0),
                           dtype=torch.float64)


def tuned_from_model(model, input_shape=None, dt=None, config=None) -> TunedNetwork:
    """The model's composed float graph as a :class:`TunedNetwork` (a tuned one is kept),
    carrying the quantizer settings ``config`` (a QuantConfig; None: the default)."""
    from ..frontend import trace
    from ..passes import lower_neurons, validate_float
    from ..passes.compose import compose_synapses
    if isinstance(model, torch.nn.Sequential) and len(model) == 1 and \
            isinstance(model[0], TunedNetwork):
        model = model[0]
    if isinstance(model, TunedNetwork):
        if config is not None:
            model.snncc_quant_config = {k: v for k, v in dataclasses.asdict(config).items()
                                        if k != "float_twins"}
        return model
    graph = trace(model, input_shape, 1e-3 if dt is None else dt)
    validate_float(graph)
    lowered, _ = lower_neurons(graph)
    settings = None
    if config is not None:
        settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "float_twins"}
    return TunedNetwork(compose_synapses(lowered), settings)


def _bounds(net: TunedNetwork) -> dict[str, tuple[float, float]]:
    """Decays stay in [0, 1] (a membrane trained to grow keeps its largest factor), thresholds
    positive."""
    out = {}
    for key, p in net.tensors.items():
        field_ = key.rsplit("::", 1)[1]
        if field_ in ("alpha", "beta"):
            out[key] = (0.0, max(1.0, float(p.detach().max())) if p.numel() else 1.0)
        elif field_ == "threshold":
            out[key] = (MIN_THRESHOLD, float("inf"))
    return out


def _constrain(net: TunedNetwork, bounds: dict[str, tuple[float, float]]) -> None:
    with torch.no_grad():
        for key, (lo, hi) in bounds.items():
            net.tensors[key].clamp_(lo, hi)


def _select(net: TunedNetwork, cfg: FinetuneConfig) -> list[torch.nn.Parameter]:
    out = []
    for key, p in net.tensors.items():
        field_ = key.rsplit("::", 1)[1]
        if field_ in ("alpha", "beta") and not cfg.train_decays:
            p.requires_grad_(False)
        if field_ == "threshold" and not cfg.train_thresholds:
            p.requires_grad_(False)
        if p.requires_grad:
            out.append(p)
    return out


def finetune(model, stimulus: np.ndarray, labels: np.ndarray,
             cfg: Optional[FinetuneConfig] = None, input_shape=None, dt=None,
             checkpoint: Optional[Path] = None, resume: bool = False,
             progress: Optional[Progress] = None,
             config=None) -> tuple[torch.nn.Sequential, History]:
    """Fine-tune ``model`` on ``stimulus`` (T, B, ...) with ``labels`` (B,), through the
    quantizer settings ``config`` (e.g. a calibration's; None: the model's own or the
    default).

    Returns ``nn.Sequential(TunedNetwork)``, a model ``snncc compile`` turns into exactly
    the network trained here (it carries ``config``), and the per-epoch history.  Raises
    :class:`SnnccError` for an unknown optimiser, missing labels, or a checkpoint of another
    network.
    """
    cfg = cfg or FinetuneConfig()
    if cfg.optimizer not in OPTIMIZERS:
        raise SnnccError(f"unknown optimizer {cfg.optimizer!r}",
                         "use one of: " + ", ".join(OPTIMIZERS))
    if labels is None:
        raise SnnccError("fine-tuning needs labels: the data file has no 'y'",
                         "add the class of every sample as 'y' to the .npz")
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if labels.shape[0] != stimulus.shape[1]:
        raise SnnccError(f"{labels.shape[0]} labels for {stimulus.shape[1]} samples",
                         "give one label per sample")
    net = tuned_from_model(model, input_shape, dt, config)
    fq = FakeQuant(net)
    bounds = _bounds(net)
    opt = OPTIMIZERS[cfg.optimizer](_select(net, cfg), lr=cfg.lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
             if cfg.cosine else None)
    hist, start_epoch = History(), 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        start_epoch, hist = _load_checkpoint(Path(checkpoint), net, opt, sched)
    split = np.random.default_rng(cfg.seed).permutation(stimulus.shape[1])
    n_val = int(round(cfg.val_fraction * len(split))) if len(split) > 1 else 0
    x_full = torch.as_tensor(np.asarray(stimulus), dtype=torch.float64)
    y_full = torch.as_tensor(labels)
    val_idx, train_idx = torch.as_tensor(split[:n_val]), torch.as_tensor(split[n_val:])
    x_all, y_all = x_full[:, train_idx], y_full[train_idx]
    x_val, y_val = x_full[:, val_idx], y_full[val_idx]
    out_name = _output(net)
    teacher = teacher_counts(model, np.asarray(stimulus), out_name)
    t_all, t_val = teacher[train_idx], teacher[val_idx]
    steps, total = x_all.shape[:2]
    batches = -(-total // cfg.batch_size)
    task = or_quiet(progress).task("fine-tuning", (cfg.epochs - start_epoch) * batches)

    def score() -> tuple[float, float]:
        acc, agree = _evaluate(fq, x_val, y_val, t_val, out_name)
        hist.val_accuracy.append(acc)
        hist.val_agreement.append(agree)
        return (agree, acc) if cfg.select == "agreement" else (acc, agree)
    if not hist.val_accuracy:
        best = score()
        hist.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    else:
        pairs = zip(hist.val_agreement, hist.val_accuracy)
        best = max(p if cfg.select == "agreement" else p[::-1] for p in pairs)
    t0 = time.perf_counter()
    for epoch in range(start_epoch, cfg.epochs):
        order = np.random.default_rng(cfg.seed + epoch).permutation(total)
        loss_sum, correct = 0.0, 0
        for i in range(0, total, cfg.batch_size):
            idx = torch.as_tensor(order[i:i + cfg.batch_size])
            counts = fq(x_all[:, idx])[out_name].sum(dim=0)
            logits = counts / steps * LOGIT_SCALE
            loss = torch.nn.functional.cross_entropy(logits, y_all[idx])
            if cfg.distill > 0:
                soft = torch.softmax(t_all[idx] / steps * LOGIT_SCALE, dim=1)
                kd = torch.nn.functional.cross_entropy(logits, soft)
                loss = (1.0 - cfg.distill) * loss + cfg.distill * kd
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _constrain(net, bounds)
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((counts.detach().argmax(dim=1) == y_all[idx]).sum())
            task.advance()
        hist.loss.append(loss_sum / total)
        hist.accuracy.append(correct / total)
        if sched is not None:
            sched.step()
        now = score()
        if n_val and now > best:
            best = now
            hist.best_epoch = epoch + 1
            hist.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        hist.seconds += time.perf_counter() - t0
        t0 = time.perf_counter()
        if checkpoint is not None:
            _save_checkpoint(Path(checkpoint), net, opt, sched, epoch + 1, hist, cfg)
    if n_val and hist.best_state is not None:
        net.load_state_dict(hist.best_state)
    else:
        hist.best_epoch = cfg.epochs
    hist.best_state = None
    net.reset()
    tuned = torch.nn.Sequential(net)
    self_check(tuned, np.asarray(stimulus)[:, :SELF_CHECK_SAMPLES])
    return tuned, hist


SELF_CHECK_SAMPLES = 32


def self_check(tuned: torch.nn.Sequential, stimulus: np.ndarray) -> None:
    """The guarantee, checked on every run: ``snncc compile`` of the tuned model gives the
    integers the fake-quant forward used, and the bit-accurate simulator's spikes on
    ``stimulus`` equal the fake-quant forward's.  Raises :class:`SnnccError` otherwise."""
    from ..compiler import compile_model
    from ..report.runs import run_quantized
    net = tuned[0]
    fq = FakeQuant(net)
    fixed, report = fq.quantized()
    compiled = compile_model(tuned).fixed
    same = all(node.name in fixed and all(np.array_equal(a, fixed.node(node.name).arrays().get(k))
                                          for k, a in node.arrays().items())
               for node in compiled.nodes())
    with torch.no_grad():
        fake = fq(torch.as_tensor(stimulus, dtype=torch.float64), fixed, report, train=False)
    sim = run_quantized(fixed, stimulus).spikes
    if not same or any(not np.array_equal(sim[n], fake[n].numpy() > 0.5) for n in sim):
        raise SnnccError("the fine-tuned network's fake-quant forward differs from the "
                         "compiled network (a bug in snncc)", "report it with the model")


def _output(net: TunedNetwork) -> str:
    graph = net.to_graph()
    return graph.inputs_of(graph.output_names[0])[0]


def _save_checkpoint(path: Path, net, opt, sched, epoch: int, hist: History, cfg) -> None:
    from ..atomic import atomic_file
    with atomic_file(path) as tmp:
        torch.save({"format": "snncc.finetune-checkpoint", "structure": net.structure,
                    "network": net.state_dict(), "optimizer": opt.state_dict(),
                    "scheduler": None if sched is None else sched.state_dict(),
                    "epoch": epoch, "best": hist.best_state,
                    "history": {k: v for k, v in dataclasses.asdict(hist).items()
                                if k != "best_state"},
                    "config": dataclasses.asdict(cfg)}, tmp)


def _load_checkpoint(path: Path, net, opt, sched) -> tuple[int, History]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:     # torch raises many types for a bad file
        raise SnnccError(f"checkpoint {path} cannot be read ({type(exc).__name__})",
                         "delete it to start over, or drop --resume") from None
    if not isinstance(state, dict) or state.get("format") != "snncc.finetune-checkpoint" \
            or state.get("structure") != net.structure:
        raise SnnccError(f"checkpoint {path} belongs to another network",
                         "delete it to start over, or resume with the model it was made from")
    net.load_state_dict(state["network"])
    opt.load_state_dict(state["optimizer"])
    if sched is not None and state.get("scheduler") is not None:
        sched.load_state_dict(state["scheduler"])
    return int(state["epoch"]), History(**state["history"], best_state=state.get("best"))
