"""Graph IR: typed nodes (:mod:`.nodes`), the graph (:mod:`.graph`), file format (:mod:`.serialize`)."""
from .graph import Graph
from .nodes import (NODE_KINDS, Affine, CubaLIF, FxDense, FxNeuron, Input, LIF, Lowered,
                    NeuronNode, Node, Output)

__all__ = ["Graph", "NODE_KINDS", "Affine", "CubaLIF", "FxDense", "FxNeuron", "Input", "LIF",
           "Lowered", "NeuronNode", "Node", "Output"]
