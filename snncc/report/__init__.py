"""Verification reports: layer-by-layer analysis, report.json (with its JSON Schema) and report.html.

Submodules are imported on use, so the core stays importable without matplotlib.
"""
