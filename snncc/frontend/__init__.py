"""Frontends: turn a trained model into the float graph IR."""
from .fx import CONVERTERS, FUNCTION_CONVERTERS, register_converter, register_function, trace
from . import layers  # noqa: F401  (registers conv, pooling, batch-norm, flatten, add)

__all__ = ["CONVERTERS", "FUNCTION_CONVERTERS", "register_converter", "register_function", "trace"]
