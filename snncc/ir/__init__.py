"""Graph IR: typed nodes (:mod:`.nodes`), the graph (:mod:`.graph`), file format (:mod:`.serialize`)."""
from .graph import Graph
from .nodes import (NODE_KINDS, Affine, CubaLIF, FxDense, FxNeuron, Input, LIF, Lowered,
                    NeuronNode, Node, Output)
from .spatial import Add, BatchNorm, Conv2d, Flatten, MaxPool2d, Pool2d, Scale
from .fixed_spatial import FxConv, FxDelay
from .xylo import XyDense, XyNeuron

__all__ = ["Graph", "NODE_KINDS", "Affine", "CubaLIF", "FxDense", "FxNeuron", "Input", "LIF",
           "Lowered", "NeuronNode", "Node", "Output"]
__all__ += ["Add", "BatchNorm", "Conv2d", "Flatten", "MaxPool2d", "Pool2d", "Scale", "FxConv",
            "FxDelay"]
__all__ += ["XyDense", "XyNeuron"]
