"""Frontends: turn a trained model into the float graph IR."""
from .fx import CONVERTERS, register_converter, trace

__all__ = ["CONVERTERS", "register_converter", "trace"]
