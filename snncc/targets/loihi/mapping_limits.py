"""Loihi 2 per-core resources and system sizes, each with its source (one dataclass).

Three kinds of figures, told apart in :attr:`Loihi2Limits.SOURCES`:

* **published** by Intel: 128 neuro-cores per chip, 1,048,576 neurons per chip (8,192 per
  core), 120 M synapses per chip, 128 KiB of flexibly partitioned SRAM per core, the 8 x 16
  core mesh, the systems' chip counts (Oheo Gulch 1, Kapoho Point 8, Hala Point 1,152);
* **Intel's compiler**, as printed in lava-dl's PilotNet notebooks
  (``tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb``): a synapse-memory budget
  of 12,000 words per core (``cost_db.registers['SynMem']``) and partitioning by repeated
  division by the worst over-use ratio (``Final max_ratio=6`` in the same log);
* **fitted** to that notebook's per-core table (74 cores): a CUBA-LIF neuron takes two of
  the core's 8,192 neuron slots and a core is never filled to the last slot, conv tiles
  are power-of-two columns, a dense synapse takes 16 bits, a conv's input axons per source
  equal its stride along the tiled axis.  Input/output axon limits are Loihi 1's
  (Davies et al., IEEE Micro 38(1), 2018): Intel has not published Loihi 2's.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import SnnccError

PILOTNET_NOTEBOOK = ("lava-dl, tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb "
                     "(Intel's compiler output on Loihi 2)")


@dataclass(frozen=True)
class Loihi2Limits:
    """Per-core and per-chip resources of Loihi 2 and the rules Intel's compiler applies.

    Units: ``*_slots`` neuron-memory slots, ``*_words`` synapse-memory words of
    ``synapse_word_bits`` bits, axons as counts.  Every field's source is in ``SOURCES``.
    """

    cores_per_chip: int = 128
    mesh: tuple[int, int] = (8, 16)                # cores per chip, rows x columns
    neurons_per_chip: int = 1_048_576
    synapses_per_chip: int = 120_000_000
    sram_bytes_per_core: int = 128 * 1024
    neuron_slots_per_core: int = 8192              # = neurons_per_chip / cores_per_chip
    synapse_words_per_core: int = 12_000
    synapse_word_bits: int = 64
    input_axons_per_core: int = 4096
    output_axons_per_core: int = 4096
    # fitted to the PilotNet per-core table (see the module docstring)
    lif_slots: int = 2                             # u and v of a CUBA-LIF neuron
    param_slots: int = 1                           # per parameter that varies per neuron
    dense_synapse_bits: int = 16
    sparse_synapse_bits: int = 32                  # weight + target index (assumption)
    conv_extra_bits: int = 1                       # per conv weight, beyond its own bits
    neuron_fill_strict: bool = True                # a core is never filled to the last slot
    SOURCES: tuple[tuple[str, str], ...] = field(default=(
        ("cores_per_chip, neurons_per_chip, synapses_per_chip",
         "published: Intel Labs, 'Taking Neuromorphic Computing to the Next Level with "
         "Loihi 2', technology brief (2021): 128 neuro-cores, 1M neurons, 120M synapses"),
        ("neuron_slots_per_core",
         "published, derived: 1,048,576 neurons / 128 cores = 8,192 per core"),
        ("sram_bytes_per_core, mesh",
         "published: 128 KB of SRAM per core, flexibly partitioned, 128 cores in an 8x16 "
         "mesh (Loihi 2 announcement, 2021); 12,000 x 64-bit synapse words + 8,192 x 32-bit "
         "neuron slots = 125.8 KiB, consistent with it"),
        ("synapse_words_per_core",
         f"Intel's compiler: SynMem budget 12000 per core in {PILOTNET_NOTEBOOK}"),
        ("synapse_word_bits, sparse_synapse_bits",
         "assumption: 64-bit synapse words (Loihi 1's synaptic memory is 64-bit wide, "
         "Davies et al. 2018); a sparse synapse = weight + 16-bit target index"),
        ("input_axons_per_core, output_axons_per_core",
         "Loihi 1: 4,096 input and 4,096 output axons per core (Davies et al., IEEE Micro "
         "38(1), 2018); Loihi 2's are unpublished, Loihi 1's are kept as a floor"),
        ("lif_slots, neuron_fill_strict",
         f"fitted to the per-core table in {PILOTNET_NOTEBOOK}: conv tiles of 2,048-3,168 "
         "LIF neurons; the tiles that would hold exactly 4,096 (conv4 16x4x64, conv5 "
         "32x2x64) were split"),
        ("dense_synapse_bits",
         f"fitted to {PILOTNET_NOTEBOOK}: 10, 150 and 1,300 SynMem words for the 10->1, "
         "50->10 and 100->50 dense layers = 4 synapses per 64-bit word per input axon; "
         "SANA-FE's Loihi 1 model stores 16-bit synapses in 64-bit words as well "
         "(SLAM-Lab/SANA-FE arch/loihi.yaml: 8 weight bits, sign, delay and tag bits)"),
        ("conv_extra_bits",
         f"fitted to {PILOTNET_NOTEBOOK}: the conv kernels' SynMem words (81, 864, 1,620, "
         "2,160, 2,880) with (weight bits + 1) per weight packed per (input channel, ky, kx) "
         "row into 64-bit words: conv1, conv4, conv5 exact, conv2 and conv3 25% and 20% "
         "under"),
        ("param_slots",
         "assumption: each per-neuron parameter that varies across a layer (decay, "
         "threshold, reset) takes one more neuron slot; unmeasured"),
    ), compare=False)

    @property
    def synapse_bits_per_core(self) -> int:
        return self.synapse_words_per_core * self.synapse_word_bits


LOIHI2 = Loihi2Limits()


@dataclass(frozen=True)
class System:
    """A Loihi 2 system: ``chips`` chips of :class:`Loihi2Limits` cores, ``source`` says where
    the count is published."""

    name: str
    chips: int
    source: str


SYSTEMS: dict[str, System] = {s.name: s for s in (
    System("oheo-gulch", 1, "Intel: single-chip Loihi 2 board (Oheo Gulch), 2021"),
    System("kapoho-point", 8, "Intel: Kapoho Point, 8 Loihi 2 chips on one board, 2022"),
    System("hala-point", 1152, "Intel / Sandia: Hala Point, 1,152 Loihi 2 chips, 140,544 "
                               "cores, 1.15 billion neurons, April 2024"),
)}


def get_system(name: str) -> System:
    """The system called ``name``; raises :class:`SnnccError` naming the known ones."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise SnnccError(f"unknown Loihi 2 system {name!r}",
                         "use one of: " + ", ".join(SYSTEMS)) from None
