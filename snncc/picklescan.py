"""Read a pickle's opcodes without running them: which globals it names, what it would call.

``torch.load(weights_only=True)`` only resolves allow-listed globals, but it still *calls*
them with whatever arguments the file supplies: a 44 KB file can ask ``nn.Linear`` (or
``bytearray``, or ``torch.FloatTensor``) for gigabytes.  :func:`scan` walks the opcode
stream (:mod:`pickletools`, which never executes anything), tracks on a symbolic stack which
global each ``REDUCE`` / ``NEWOBJ`` / ``INST`` / ``OBJ`` applies to, and lists them, so the
loader can refuse every call that ``torch.save`` never writes before torch unpickles a byte.

What ``torch.save`` writes for a module (protocol 2): classes created with ``NEWOBJ`` and no
arguments (``cls.__new__(cls)``, no constructor runs) and filled by ``BUILD``; tensors
rebuilt by ``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` on storages read
from the archive (bounded by the file); ``OrderedDict``, ``set``, ``torch.Size`` and
``torch.device`` built from literals.  :data:`SAFE_CALLS` lists those; anything else called
is refused by the loader.
"""
from __future__ import annotations

import pickletools
from dataclasses import dataclass, field

# Callables that torch.save's output applies with REDUCE, whose cost is bounded by the
# bytes of the file (literals, or storages read from the archive whose views torch checks).
SAFE_CALLS = frozenset({
    "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "collections.OrderedDict", "builtins.set", "builtins.frozenset", "__builtin__.set",
    "__builtin__.frozenset", "torch.Size", "torch.device", "_codecs.encode", "builtins.complex",
    "__builtin__.complex",
})
# Classes NEWOBJ may instantiate with arguments (torch special-cases Parameter).
SAFE_NEWOBJ_WITH_ARGS = frozenset({"torch.nn.parameter.Parameter", "torch.Size",
                                   "collections.OrderedDict"})

_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING",
            "BINSTRING", "STRING", "SHORT_BINBYTES", "BINBYTES", "BINBYTES8"}
_MARK = object()


@dataclass
class Scan:
    """What a pickle names and calls.

    ``globals``: every ``module.name`` it resolves; ``calls``: (opcode, callable) for every
    call, with ``"?"`` where the callable is not a plain global; ``new_with_args``: classes
    NEWOBJ'd with a non-empty argument tuple; ``protocol``: the PROTO opcode's value.
    """

    globals: list[str] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    new_with_args: list[str] = field(default_factory=list)
    protocol: int = 0

    def unsafe_calls(self) -> list[str]:
        """Callables applied that torch.save never writes (see :data:`SAFE_CALLS`)."""
        bad = [c for op, c in self.calls if op != "NEWOBJ" and c not in SAFE_CALLS]
        bad += [c for c in self.new_with_args if c not in SAFE_NEWOBJ_WITH_ARGS]
        return list(dict.fromkeys(bad))


class ScanError(ValueError):
    """The bytes are not a pickle this scanner can follow."""


def _global(value) -> str:
    return value[1] if isinstance(value, tuple) and value and value[0] == "G" else "?"


def scan(data: bytes) -> Scan:
    """Walk the pickle in ``data`` (one object, up to STOP); raises :class:`ScanError`."""
    out = Scan()
    stack: list = []
    memo: dict = {}

    def pop_mark() -> list:
        items = []
        while stack:
            item = stack.pop()
            if item is _MARK:
                return items[::-1]
            items.append(item)
        raise ScanError("MARK missing")

    def pop():
        if not stack:
            raise ScanError("stack underflow")
        return stack.pop()

    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name == "PROTO":
                out.protocol = int(arg)
            elif name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                full = f"{module}.{attr}"
                out.globals.append(full)
                stack.append(("G", full))
            elif name == "STACK_GLOBAL":
                attr, module = pop(), pop()
                full = f"{_str(module)}.{_str(attr)}"
                out.globals.append(full)
                stack.append(("G", full))
            elif name in _STRINGS:
                stack.append(("S", arg))
            elif name == "MARK":
                stack.append(_MARK)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1] if stack else None
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1] if stack else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo.get(arg, ("V",)))
            elif name == "REDUCE":
                args, func = pop(), pop()
                out.calls.append(("REDUCE", _global(func)))
                stack.append(("V",))
            elif name in ("NEWOBJ", "NEWOBJ_EX"):
                kwargs = pop() if name == "NEWOBJ_EX" else None
                args, cls = pop(), pop()
                out.calls.append(("NEWOBJ", _global(cls)))
                if args != ("T", ()) or (kwargs is not None and kwargs != ("D",)):
                    out.new_with_args.append(_global(cls))
                stack.append(("V",))
            elif name == "INST":
                pop_mark()
                module, _, attr = str(arg).partition(" ")
                out.globals.append(f"{module}.{attr}")
                out.calls.append(("INST", f"{module}.{attr}"))
                stack.append(("V",))
            elif name == "OBJ":
                items = pop_mark()
                out.calls.append(("OBJ", _global(items[0]) if items else "?"))
                stack.append(("V",))
            elif name in ("EXT1", "EXT2", "EXT4"):
                out.calls.append((name, "?"))
                stack.append(("V",))
            elif name == "EMPTY_TUPLE":
                stack.append(("T", ()))
            elif name == "EMPTY_DICT":
                stack.append(("D",))
            elif name == "STOP":
                return out
            else:
                _generic(op, stack, pop, pop_mark)
    except ScanError:
        raise
    except Exception as exc:      # pickletools raises ValueError and friends on bad bytes
        raise ScanError(f"{type(exc).__name__}: {exc}") from None
    raise ScanError("no STOP opcode")


def _str(value) -> str:
    if isinstance(value, tuple) and value and value[0] == "S":
        return str(value[1])
    raise ScanError("STACK_GLOBAL with a computed name")


def _generic(op, stack: list, pop, pop_mark) -> None:
    """Any other opcode: pop what it consumes, push placeholders for what it produces."""
    before = list(op.stack_before)
    if pickletools.markobject in before:
        pop_mark()
        before = [b for b in before[:before.index(pickletools.markobject)]]
    else:
        before = [b for b in before if b is not pickletools.stackslice]
    for _ in before:
        pop()
    for _ in op.stack_after:
        stack.append(("V",))
