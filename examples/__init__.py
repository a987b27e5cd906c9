"""snncc examples (importable so tests can reuse their training code)."""
