"""Loihi timing of a composed graph: synaptic depth, and delay lines that align paths.

Every synapse (Lava ``Dense``/``Conv``) delivers one step late, so a neuron at synaptic
depth ``D`` answers the float model's step t at step ``t + D``.  A neuron fed from sources
of different depths (a residual shortcut skips layers) must see each at the same float step:
the shallower source goes through an ``FxDelay`` of ``D - 1 - depth(source)`` steps.
A recurrent synapse from ``src`` into neuron ``N`` must carry the float step ``t - 1``: its
own one-step delay does that exactly when ``depth(src) == D``; a shallower source is delayed
to match, a deeper one (feedback from a later layer) cannot be aligned and is refused.
"""
from __future__ import annotations

from ..errors import SnnccError
from ..ir import FxDelay, Graph


class DelayLines:
    """Depth of every spike node of the fixed-point graph being built, and its delay lines."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.depth: dict[str, int] = {}
        self.shape: dict[str, tuple[int, ...]] = {}

    def set(self, name: str, depth: int, shape: tuple[int, ...]) -> None:
        self.depth[name], self.shape[name] = depth, tuple(shape)

    def neuron_depth(self, sources: list[str]) -> int:
        """Depth of a neuron fed (feed-forward) from ``sources``: one synapse past the deepest."""
        return 1 + max((self.depth[s] for s in sources), default=0)

    def aligned(self, source: str, depth: int) -> str:
        """``source`` delayed so that it reaches ``depth``; adds the FxDelay node on first use."""
        lag = depth - self.depth[source]
        if lag < 0:
            raise SnnccError(f"spikes of {source!r} (synaptic depth {self.depth[source]}) would "
                             f"have to arrive {-lag} step(s) early at depth {depth}",
                             "feedback may only come from the same layer or an earlier one")
        if lag == 0:
            return source
        name = f"{source}.delay{lag}"
        if name not in self.graph:
            self.graph.add(FxDelay(name, delay=lag, shape=self.shape[source]), [source])
            self.set(name, depth, self.shape[source])
        return name

    def feed_forward(self, source: str, neuron_depth: int) -> str:
        """The spike node a feed-forward synapse into a neuron at ``neuron_depth`` reads."""
        return self.aligned(source, neuron_depth - 1)

    def recurrent(self, source: str, neuron: str, neuron_depth: int) -> str:
        """The spike node a recurrent synapse into ``neuron`` reads (one step of feedback)."""
        if self.depth[source] > neuron_depth:
            raise SnnccError(f"recurrent edge from {source!r} (synaptic depth "
                             f"{self.depth[source]}) into {neuron!r} (depth {neuron_depth}): on "
                             "Loihi every synapse adds a step, so feedback from a deeper layer "
                             "arrives late", "feed back only from the same layer (or an "
                             "earlier one)")
        return self.aligned(source, neuron_depth)
