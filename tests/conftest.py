import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _forget_snntorch_instances():
    """snnTorch keeps every neuron ever built in a class-level list that its utils.reset()
    walks; one test's neurons (e.g. a DeltaLeaky, whose state is None) must not break the
    next test's reset."""
    yield
    snt = sys.modules.get("snntorch")
    if snt is not None:
        snt.SpikingNeuron.instances.clear()
