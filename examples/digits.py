"""Reusable pieces of the digits example: data, model, training and evaluation.

A small LIF MLP learns scikit-learn's 8x8 handwritten digits (``load_digits`` ships with
scikit-learn, so nothing is downloaded).  Images are rate coded: every pixel spikes at each
time step with probability ``intensity / 16``, drawn from a fixed seed, so the same seed
always gives the same spike trains.

The model is a plain ``nn.Sequential`` of ``nn.Linear`` and ``snncc.nn`` neurons, stepped one
time step per call (snncc's convention), so ``torch.save(model)`` loads wherever snncc is
installed.  Training is BPTT over the ``T`` steps, with cross-entropy on the scaled output
spike counts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

import snncc.nn as snn

N_IN, N_OUT = 64, 10
TEST_SIZE, SPLIT_SEED = 0.2, 0
MIN_THRESHOLD = 0.25      # thresholds are kept above this so they stay quantizable


def load_digits_spikes(T: int = 16, seed: int = 0
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rate-coded digits, split 80/20 with a fixed split.

    Returns ``(x_train, y_train, x_test, y_test)``: ``x_*`` uint8 spikes of shape
    ``(samples, T, 64)``, ``y_*`` int64 labels.  Every pixel spikes at each step with
    probability ``intensity / 16``; train and test draw from independent streams of ``seed``,
    so the test spikes do not depend on the training set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    p = (digits.data / 16.0).astype(np.float64)                # (n, 64) in [0, 1]
    y = digits.target.astype(np.int64)
    p_tr, p_te, y_tr, y_te = train_test_split(p, y, test_size=TEST_SIZE,
                                              random_state=SPLIT_SEED, stratify=None)
    rng_tr, rng_te = (np.random.default_rng(s)
                      for s in np.random.SeedSequence(seed).spawn(2))
    return encode(p_tr, T, rng_tr), y_tr, encode(p_te, T, rng_te), y_te


def encode(prob: np.ndarray, T: int, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli rate code: ``(samples, features)`` probabilities -> ``(samples, T, features)`` uint8."""
    u = rng.random((prob.shape[0], T, prob.shape[1]))
    return (u < prob[:, None, :]).astype(np.uint8)


def build_mlp(hidden: int = 128, neuron: str = "lif", n_in: int = N_IN,
              n_out: int = N_OUT, seed: Optional[int] = None) -> nn.Sequential:
    """``Linear(n_in, hidden) -> neuron -> Linear(hidden, n_out) -> neuron``.

    ``neuron`` is ``"lif"`` (:class:`snncc.nn.LIF`) or ``"cuba"`` (:class:`snncc.nn.CubaLIF`),
    with snncc's defaults: per-neuron learnable decays and thresholds, zero reset.
    ``seed``, if given, seeds torch's global RNG first, so the initial weights are fixed.
    """
    layer = {"lif": snn.LIF, "cuba": snn.CubaLIF}.get(neuron)
    if layer is None:
        raise ValueError(f"neuron must be 'lif' or 'cuba', got {neuron!r}")
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, hidden), layer(hidden),
                         nn.Linear(hidden, n_out), layer(n_out))


def run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Step ``model`` over ``x`` (batch, T, features); return output spikes (batch, T, out)."""
    snn.reset(model)
    out = [model(x[:, t]) for t in range(x.shape[1])]
    snn.reset(model)          # leave no state tensors behind (they would be pickled)
    return torch.stack(out, dim=1)


def _tensor(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


@torch.no_grad()
def predict_counts(model: nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Output spike counts (samples, classes) of ``model`` on spikes ``x`` (samples, T, features)."""
    model.eval()
    counts = [run(model, _tensor(x[i:i + batch_size])).sum(dim=1)
              for i in range(0, len(x), batch_size)]
    return torch.cat(counts).numpy()


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 512) -> float:
    """Accuracy of the spike-count argmax (ties go to the lowest class index)."""
    counts = predict_counts(model, x, batch_size)
    return float(np.mean(counts.argmax(axis=1) == np.asarray(y)))


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4        # on weights only, never on decays or thresholds
    logit_scale: float = 10.0         # logits = counts / T * logit_scale
    min_threshold: float = MIN_THRESHOLD
    seed: int = 0


@dataclass
class History:
    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _clamp_neurons(model: nn.Module, min_threshold: float) -> None:
    """Keep decays in [0, 1] and thresholds above ``min_threshold`` (in place, after a step)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, snn.StatefulNeuron):
                for name in ("alpha", "beta"):
                    if isinstance(getattr(m, name, None), torch.Tensor):
                        getattr(m, name).clamp_(0.0, 1.0)
                if isinstance(getattr(m, "threshold", None), torch.Tensor):
                    m.threshold.clamp_(min=min_threshold)


def train(model: nn.Module, x_train: np.ndarray, y_train: np.ndarray,
          cfg: Optional[TrainConfig] = None, x_test: Optional[np.ndarray] = None,
          y_test: Optional[np.ndarray] = None,
          log: Optional[Callable[[str], None]] = print) -> History:
    """Train ``model`` in place by BPTT; return the per-epoch history.

    Deterministic for a fixed ``cfg.seed`` (shuffling uses its own generator).
    """
    cfg = cfg or TrainConfig()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    decay, no_decay = [], []
    for m in model.modules():
        for p in m.parameters(recurse=False):
            (decay if isinstance(m, nn.Linear) and p.dim() > 1 else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.epochs, 1))
    xs, ys = _tensor(x_train), torch.as_tensor(np.asarray(y_train), dtype=torch.long)
    T = xs.shape[1]
    hist = History()
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(xs), generator=gen)
        total, correct, n = 0.0, 0, 0
        for i in range(0, len(xs), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            xb, yb = xs[idx], ys[idx]
            counts = run(model, xb).sum(dim=1)
            loss = nn.functional.cross_entropy(counts / T * cfg.logit_scale, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _clamp_neurons(model, cfg.min_threshold)
            total += float(loss.detach()) * len(idx)
            correct += int((counts.argmax(dim=1) == yb).sum())
            n += len(idx)
        sched.step()
        hist.loss.append(total / n)
        hist.train_acc.append(correct / n)
        msg = f"epoch {epoch + 1:3d}/{cfg.epochs}  loss {total / n:.4f}  train acc {correct / n:.4f}"
        if x_test is not None and y_test is not None:
            hist.test_acc.append(evaluate(model, x_test, y_test))
            msg += f"  test acc {hist.test_acc[-1]:.4f}"
        if log:
            log(msg + f"  ({time.perf_counter() - start:.1f} s)")
    hist.seconds = time.perf_counter() - start
    model.eval()
    return hist
