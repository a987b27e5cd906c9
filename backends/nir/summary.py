"""One line saying how a NIR file was read (producer, dt, convention, reset), and the
notes and warnings that go with it; printed by every CLI command that reads a ``.nir``."""
from __future__ import annotations

from collections import Counter


def _most(values: dict) -> str:
    """``euler`` or ``euler (3), unit-pulse (1)`` for a node -> choice map."""
    counts = Counter(values.values())
    if len(counts) <= 1:
        return next(iter(counts), "-")
    return ", ".join(f"{k} ({v})" for k, v in counts.most_common())


def describe(info: dict) -> tuple[str, list[str], list[str]]:
    """(summary line, notes, warnings) of ``graph.meta["nir_import"]``."""
    producer = info.get("producer") or "unknown producer"
    evidence = f" ({info['evidence']})" if info.get("evidence") else ""
    line = (f"NIR import: {producer}{evidence}; dt = {info['dt']:g} s ({info['dt_source']}); "
            f"r convention: {_most(info.get('conventions', {}))}; "
            f"reset: {_most(info.get('resets', {}))}")
    notes = list(info.get("notes", []))
    warnings = list(info.get("warnings", []))
    if info.get("caveat"):
        warnings.append(info["caveat"])
    return line, notes, warnings
