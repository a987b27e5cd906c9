"""Docs that cannot rot: the site builds strictly, and every tutorial's code runs.

A tutorial is a page under ``docs/tutorials/``; its fenced ``python`` and ``bash`` blocks run
in page order in one empty folder: python blocks in one shared namespace (as a reader pastes
them into one session), bash blocks in a shell with this environment's ``snncc`` on PATH.

Two more forms, both plain MkDocs Markdown:

* a block with a title, ```` ```python title="net.py" ````, is a file the reader saves: it is
  written to that name in the folder instead of being run;
* ``<!-- requires: lava -->`` (or python module names, comma-separated) on the line before a
  block runs it only where that is installed (``lava``: a Python with lava-nc, as
  ``snncc.backends.lava.find_lava_python`` finds it); otherwise the block is skipped and the
  test says so.  Only for dependencies that are really optional, and the page says so too.
  ``<!-- page requires: snntorch -->`` anywhere on a page skips the whole page without it.
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
BLOCK = re.compile(r"^(?:<!-- requires: (?P<req>[^>]*?) -->\n)?"
                   r"```(?P<lang>python|bash)(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.S | re.M)
TITLE = re.compile(r'title="([^"]+)"')
PAGE_REQUIRES = re.compile(r"^<!-- page requires: ([^>]*?) -->$", re.M)


def blocks(page: Path) -> list[tuple[str, str]]:
    """The runnable blocks of a page, in order: ("python" | "bash", code)."""
    return [(m["lang"], m["code"]) for m in BLOCK.finditer(page.read_text())]


def _missing(requirements: str) -> list[str]:
    """The comma-separated requirements that this environment lacks."""
    import importlib.util
    missing = []
    for req in filter(None, (r.strip() for r in requirements.split(","))):
        if req == "lava":
            from snncc.backends.lava import find_lava_python
            ok = find_lava_python() is not None
        else:
            ok = importlib.util.find_spec(req) is not None
        if not ok:
            missing.append(req)
    return missing


def test_every_tutorial_has_code():
    assert TUTORIALS, "no tutorials found"
    for page in TUTORIALS:
        assert blocks(page), f"{page.name} has no runnable code block"


def test_every_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:", 1)[1]
    pages = sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))
    missing = [p for p in pages if not re.search(rf":\s*{re.escape(p)}\s*$", nav, re.M)]
    assert not missing, f"pages not in mkdocs.yml's nav (unreachable in the site): {missing}"


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
    text = page.read_text()
    for m in PAGE_REQUIRES.finditer(text):
        if _missing(m[1]):
            pytest.skip(f"{page.name} needs {', '.join(_missing(m[1]))}")
    namespace: dict = {"__name__": "__tutorial__"}
    monkeypatch.syspath_prepend(str(tmp_path))          # files the page saves import as modules
    skipped = []
    try:
        _run_blocks(text, page, tmp_path, env, namespace, skipped)
    finally:                                            # a later page may save a same-named file
        for name, mod in list(sys.modules.items()):
            if str(getattr(mod, "__file__", None) or "").startswith(str(tmp_path)):
                del sys.modules[name]
    if skipped:
        pytest.skip("; ".join(skipped))


def _run_blocks(text: str, page: Path, tmp_path: Path, env: dict, namespace: dict,
                skipped: list) -> None:
    for i, m in enumerate(BLOCK.finditer(text)):
        lang, code, where = m["lang"], m["code"], f"{page.name} block {i + 1} ({m['lang']})"
        if m["req"] and _missing(m["req"]):
            skipped.append(f"{where}: needs {', '.join(_missing(m['req']))}")
            continue
        title = TITLE.search(m["info"])
        if title:
            (tmp_path / title[1]).write_text(code)
        elif lang == "python":
            exec(compile(code, where, "exec"), namespace)
        else:
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=tmp_path,
                                  env=env, capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, f"{where} failed:\n{code}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
