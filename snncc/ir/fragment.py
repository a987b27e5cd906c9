"""A module that becomes several IR nodes: what a converter returns instead of one node.

Used by neuron modules with internal structure, e.g. :class:`snncc.nn.RLIF`, whose spikes
come back through its own Linear: the neuron node, the recurrent ``Affine`` fed by the
neuron, and a recurrent edge (one step of delay) from that Affine back into the neuron.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .nodes import Node

INPUT = "<input>"    # stands for the module's input tensor in a fragment's input lists


@dataclass
class FragmentNode:
    """One node of a fragment with its feed-forward inputs (port order) and recurrent inputs."""

    node: Node
    inputs: list[str] = field(default_factory=list)
    recurrent: list[str] = field(default_factory=list)


@dataclass
class Fragment:
    """Nodes in an order where feed-forward inputs come first; ``output`` names the result.

    ``input_bias`` (per neuron of ``output``, or None): a constant added to the module's
    input at every step (e.g. the bias of a recurrent Linear that adds into a synaptic
    current); the frontend folds it into the bias of the Linear/Conv2d feeding the module.
    """

    nodes: list[FragmentNode]
    output: str
    input_bias: Optional[np.ndarray] = None
