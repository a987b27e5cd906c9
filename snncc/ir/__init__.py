"""Graph IR: typed nodes (:mod:`.nodes`), the graph (:mod:`.graph`), file format (:mod:`.serialize`)."""
from .graph import Graph
from .nodes import (NODE_KINDS, Affine, CubaLIF, FxDense, FxNeuron, Input, LIF, Lowered,
                    NeuronNode, Node, Output)
from .spatial import Add, BatchNorm, Conv2d, Flatten, MaxPool2d, Pool2d, Scale
from .fixed_spatial import FxConv, FxDelay
from .delays import DelayAffine, FxDelayDense, SpikeDelay
from .readout import CubaLI, LI
from .reset import CubaLIFReset, FxLIFReset
from .sigma_delta import FxDelta, FxGradedNeuron, FxSigma, FxSigmaDelta
from .xylo import XyDense, XyNeuron

__all__ = ["Graph", "NODE_KINDS", "Affine", "CubaLIF", "FxDense", "FxNeuron", "Input", "LIF",
           "Lowered", "NeuronNode", "Node", "Output"]
__all__ += ["Add", "BatchNorm", "Conv2d", "Flatten", "MaxPool2d", "Pool2d", "Scale", "FxConv",
            "FxDelay", "CubaLI", "LI", "FxDelayDense", "FxLIFReset", "FxDelta", "FxGradedNeuron",
            "FxSigma", "FxSigmaDelta"]
__all__ += ["XyDense", "XyNeuron"]
