"""Docs that cannot rot: the site builds strictly, and every tutorial's code runs.

A tutorial is a page under ``docs/tutorials/``; its fenced ``python`` and ``bash`` blocks run
in page order in one empty folder: python blocks in one shared namespace (as a reader pastes
them into one session), bash blocks in a shell with this environment's ``snncc`` on PATH.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("*.md"))
BLOCK = re.compile(r"^```(python|bash)\n(.*?)^```$", re.S | re.M)


def blocks(page: Path) -> list[tuple[str, str]]:
    """The runnable blocks of a page, in order: ("python" | "bash", code)."""
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(page.read_text())]


def test_every_tutorial_has_code():
    assert TUTORIALS, "no tutorials found"
    for page in TUTORIALS:
        assert blocks(page), f"{page.name} has no runnable code block"


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs not installed (pip install -e '.[docs]')")
def test_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    proc = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_tutorial_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "COLUMNS": "160"}
    namespace: dict = {"__name__": "__tutorial__"}
    for i, (lang, code) in enumerate(blocks(page)):
        where = f"{page.name} block {i + 1} ({lang})"
        if lang == "python":
            exec(compile(code, where, "exec"), namespace)
        else:
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, f"{where} failed:\n{code}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
