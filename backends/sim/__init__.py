"""Bit-accurate numpy simulator of the fixed-point IR: the golden model."""
from .. import register_runner
from .stepper import SimResult, simulate

register_runner("sim")(simulate)

__all__ = ["SimResult", "simulate"]
