"""Models given by their class: ``train.py:Net`` or ``package.module:factory``, plus weights.

PyTorch's recommended way to save a model is ``torch.save(model.state_dict(), path)``: the
weights without the code.  snncc rebuilds the model the way the training script does:

* ``path/to/train.py:Net`` imports the script as a module (not as ``__main__``, so its
  ``if __name__ == "__main__":`` training block does not run; its folder is on
  ``sys.path`` while it imports, so its own sibling imports work);
* ``package.module:factory`` imports a module (the working directory is searched first,
  as ``python -m`` does);
* the named class or function is called with ``model_args``: a JSON object (keyword
  arguments) or array (positional), e.g. ``'{"hidden": 128}'``;
* ``weights`` (a file written by ``torch.save(model.state_dict())``, or a checkpoint dict
  holding one under ``state_dict`` / ``model_state_dict`` / ``model``) is loaded into it
  with ``load_state_dict(strict=True)``.  The weights file is read without running code
  (weights-only), so it needs no ``--trust``; naming the script is what runs its code.  A
  file that pickled the whole model from the training script (``torch.save(model)``, its
  classes recorded as ``__main__.Net``) works too: those names resolve in the named script.

This is also the path for models whose modules cannot be pickled (Norse cells, snnTorch
neurons with their default surrogate functions) and for classes defined in ``__main__``.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from .errors import SnnccError

_SPEC = re.compile(r"^(?P<mod>[^:]+):(?P<attr>[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


def is_spec(value) -> bool:
    """True for ``file.py:Name`` and ``package.module:Name`` (not an existing file path)."""
    text = str(value)
    m = _SPEC.match(text)
    if not m or Path(text).exists():
        return False
    mod = m.group("mod")
    return mod.endswith(".py") or bool(_DOTTED.match(mod))


@contextmanager
def _on_path(folder: str):
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass


def _import_script(path: Path):
    if not path.is_file():
        raise SnnccError(f"model script {path} does not exist", "check the path before ':'")
    name = f"snncc_model_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SnnccError(f"cannot import {path} as a Python module", "name a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with _on_path(str(path.resolve().parent)):
        try:
            spec.loader.exec_module(module)
        except BaseException as exc:
            sys.modules.pop(name, None)
            if isinstance(exc, (KeyboardInterrupt, MemoryError)):
                raise
            raise _import_failed(str(path), exc) from None
    return module


def _import_failed(what: str, exc: BaseException) -> SnnccError:
    if isinstance(exc, SystemExit):
        return SnnccError(f"importing {what} called exit() ({exc.code!r})",
                          "guard the script's training code with if __name__ == '__main__':")
    if isinstance(exc, SyntaxError):
        return SnnccError(f"{what} has a syntax error (line {exc.lineno}: {exc.msg})",
                          "fix the script")
    return SnnccError(f"importing {what} failed ({type(exc).__name__}: {str(exc)[:200]})",
                      "make the module importable on its own; guard training code with "
                      "if __name__ == '__main__':")


def _import_module(dotted: str):
    import os
    with _on_path(os.getcwd()):
        try:
            return importlib.import_module(dotted)
        except ModuleNotFoundError as exc:
            if exc.name and dotted.startswith(exc.name):
                raise SnnccError(f"no module named {exc.name!r} (from {dotted}:...)",
                                 "run snncc from the folder that holds the package, add it to "
                                 "PYTHONPATH, or name the file (path/to/train.py:Net)") from None
            raise _import_failed(dotted, exc) from None
        except (KeyboardInterrupt, MemoryError):
            raise
        except BaseException as exc:
            raise _import_failed(dotted, exc) from None


def _parse_args(model_args: Optional[str]) -> tuple[list, dict]:
    if model_args is None or str(model_args).strip() == "":
        return [], {}
    try:
        value = json.loads(model_args)
    except json.JSONDecodeError as exc:
        raise SnnccError(f"--model-args is not valid JSON ({exc.msg} at column {exc.colno})",
                         "pass a JSON object of keyword arguments, e.g. '{\"hidden\": 128}'") \
            from None
    if isinstance(value, dict):
        return [], value
    if isinstance(value, list):
        return value, {}
    raise SnnccError(f"--model-args is a JSON {type(value).__name__}, not an object or array",
                     "pass keyword arguments as '{\"name\": value}' or positional ones as '[...]'")


def build(spec: str, model_args: Optional[str] = None):
    """Import ``spec``'s module and call the named class or factory with ``model_args``;
    returns (the model, the imported module)."""
    import inspect

    from torch import nn
    m = _SPEC.match(spec)
    if m is None:
        raise SnnccError(f"{spec!r} is not a model spec", "use train.py:Net or package.module:Net")
    mod, attr = m.group("mod"), m.group("attr")
    module = _import_script(Path(mod)) if mod.endswith(".py") else _import_module(mod)
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            found = sorted(k for k, v in vars(module).items() if isinstance(v, type)
                           and issubclass(v, nn.Module) and getattr(v, "__module__", "")
                           == module.__name__)
            raise SnnccError(f"{mod} has no {attr!r}",
                             f"name one of its model classes: {', '.join(found) or '(none)'}")
        target = getattr(target, part)
    if not callable(target):
        raise SnnccError(f"{spec} is a {type(target).__name__}, not a class or function",
                         "name the model class or a function that returns the model")
    args, kwargs = _parse_args(model_args)
    try:
        obj = target(*args, **kwargs)
    except (KeyboardInterrupt, MemoryError):
        raise
    except TypeError as exc:
        try:
            sig = str(inspect.signature(target))
        except (TypeError, ValueError):
            sig = "(...)"
        raise SnnccError(f"{spec}{sig} cannot be called with --model-args {model_args or '{}'} "
                         f"({exc})", "pass its constructor arguments as JSON with "
                         "--model-args") from None
    except Exception as exc:
        raise SnnccError(f"{spec}({model_args or ''}) raised {type(exc).__name__}: "
                         f"{str(exc)[:200]}", "check the constructor arguments") from None
    if not isinstance(obj, nn.Module):
        raise SnnccError(f"{spec} returned a {type(obj).__name__}, not a torch.nn.Module",
                         "name the model class or a function that returns the model")
    return obj, module


def _state_dict_of(obj, path) -> dict:
    from .modelfile import is_state_dict
    if is_state_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in CHECKPOINT_KEYS:
            if is_state_dict(obj.get(key)):
                return obj[key]
    import torch
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    raise SnnccError(f"weights file {path} holds a {type(obj).__name__} without a state_dict",
                     "save it with torch.save(model.state_dict(), path)")


def load_weights(model, path, trust: bool = False, script=None) -> None:
    """Fill ``model`` from a state_dict file (strict: every key, every shape), or from a file
    that pickled the whole model (its ``__main__`` classes resolved in ``script``)."""
    from .modelfile import read_torch_file
    state = _state_dict_of(read_torch_file(path, trust, script), path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} (model: {tuple(own[k].shape)})"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected),
                             ("wrong shape", wrong)):
            if items:
                parts.append(f"{label}: {', '.join(items[:4])}"
                             + (f" and {len(items) - 4} more" if len(items) > 4 else ""))
        raise SnnccError(f"weights file {path} does not fit {type(model).__name__} ("
                         + "; ".join(parts) + ")",
                         "build the model with the constructor arguments used in training "
                         "(--model-args JSON), or pass the matching weights file")
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise SnnccError(f"weights file {path} does not load into {type(model).__name__} "
                         f"({str(exc)[:200]})", "pass the matching weights file") from None


def load_spec(spec: str, weights=None, model_args: Optional[str] = None, trust: bool = False):
    """Build the model named by ``spec`` and load ``weights`` into it (see module docstring)."""
    model, script = build(spec, model_args)
    if weights is not None:
        load_weights(model, weights, trust, script)
    model.eval()
    return model
