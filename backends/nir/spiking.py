"""How many spikes a NIR neuron emits in one step, which NIR does not record.

snnTorch, SpikingJelly, Norse and snncc's own single-spike neurons emit at most one.
Rockpool's ``LIFTorch``/``LIFNeuronTorch`` emit ``floor(v/thr)`` spikes where
``v >= thr``, capped at ``max_spikes_per_dt`` (65536 unless the model sets it;
``rockpool/nn/modules/torch/lif_torch.py``, ``StepPWL``), and Sinabs's ``MultiSpike`` (its
default spike function, ``sinabs/activation/spike_generation.py``) emits ``floor(v/thr)``
without a cap; each spike subtracts one threshold.  snncc's IR says the same with
``CubaLIF.max_spikes`` (the count ``#{k <= max_spikes : v > k*threshold}``, subtractive
reset at the spike step), so such files are read as their producer means them: the
producer's default, or what ``--max-spikes-per-dt`` says the model was built with.
"""
from __future__ import annotations

from typing import Optional

from ...errors import SnnccError
from . import producers as prod

SPIKING = ("LIF", "IF", "CubaLIF")


class NirOptionError(SnnccError):
    """A refusal about how the file is read (options), not about its content."""


def spikes_per_step(nir_graph, producer, option: Optional[int],
                    meta: dict) -> tuple[int, str]:
    """(the most spikes each spiking neuron emits per step, where that number comes from).

    ``option``: ``--max-spikes-per-dt`` (None: the file's snncc metadata or the producer's
    default).  Raises :class:`NirOptionError` for a value that is not a whole number >= 1,
    or above 1 for a producer whose neurons emit one spike per step.
    """
    if option is not None:
        try:
            ok = int(option) == option and not isinstance(option, bool)
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok or option < 1:
            raise NirOptionError(f"--max-spikes-per-dt {option!r} is not a whole number >= 1",
                                 "give the most spikes a neuron emits per step, e.g. 1")
        if option > 1 and producer is not None and not producer.multi_spike \
                and producer is not prod.SNNCC:
            raise NirOptionError(f"--max-spikes-per-dt {option}: {producer.name}'s neurons emit "
                                 "at most one spike per step",
                                 "drop --max-spikes-per-dt, or name the tool that wrote the file "
                                 "(--producer)")
        return int(option), "--max-spikes-per-dt"
    if producer is not None and producer.multi_spike:
        return producer.max_spikes, f"{producer.name}'s default"
    return 1, ""


def check_reset(name: str, max_spikes: int, reset: str, delayed: bool) -> None:
    """Several spikes per step need the subtractive reset at the spike step."""
    if max_spikes > 1 and (reset != "subtract" or delayed):
        raise NirOptionError(f"NIR node {name!r}: {max_spikes} spikes per step with a "
                             f"{reset}{' (delayed)' if delayed else ''} reset: each spike "
                             "subtracts one threshold, at the spike step",
                             "use --reset subtract, or --max-spikes-per-dt 1 for a model "
                             "built with one spike per step")


def describe(max_spikes: int, source: str) -> str:
    """The summary line's words for it ("" for the usual one spike per step)."""
    if max_spikes <= 1:
        return ""
    if source == "--max-spikes-per-dt":
        return f"spikes per step: up to {max_spikes} (--max-spikes-per-dt)"
    return (f"spikes per step: up to {max_spikes} ({source}; NIR does not record it: "
            "--max-spikes-per-dt)")
