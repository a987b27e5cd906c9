"""The manifest of a build folder: what snncc wrote there (names, sizes, SHA-256).

``snncc-manifest.json`` is written last into every folder :func:`snncc.atomic.output_dir`
fills.  It is what makes a folder "snncc's own": a later compile may replace exactly the
files it lists (and only while they still match), ``--force`` may replace listed files a
user changed, and nothing unlisted is ever replaced or deleted.  ``snncc run`` checks the
files it reads against it, so a build changed after compile is refused by name.

Format (JSON object)::

    {"format": "snncc.manifest", "version": 1, "snncc_version": "0.1.0",
     "state": "complete" | "pending", "meta": {...},
     "files": {"network.json": {"size": 1234, "sha256": "..."}, ...},
     "previous": {...}}          # only while "pending": the entries being replaced

``pending`` is the state while files are being swapped in: a file matching either its
``files`` or its ``previous`` entry is still snncc's; ``run`` refuses a pending folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .errors import SnnccError

MANIFEST = "snncc-manifest.json"
FORMAT, VERSION = "snncc.manifest", 1
MAX_MANIFEST_BYTES = 4 * 2 ** 20
_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[int, str]:
    """(size in bytes, hex SHA-256) of a regular file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("snncc")
    except Exception:        # a source tree without metadata
        return "unknown"


@dataclass
class Manifest:
    """A parsed manifest: ``files`` maps relative POSIX names to {"size", "sha256"}."""

    files: dict[str, dict]
    state: str = "complete"
    meta: dict = field(default_factory=dict)
    previous: dict[str, dict] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {"format": FORMAT, "version": VERSION, "snncc_version": _version(),
                "state": self.state, "meta": self.meta, "files": self.files}
        if self.previous:
            body["previous"] = self.previous
        return json.dumps(body, indent=1, sort_keys=True)

    def owns(self, directory: Path, name: str) -> Optional[bool]:
        """None: not listed; True: listed and unchanged (or a pending swap's new or old
        version); False: listed but changed since snncc wrote it."""
        entries = [e for e in (self.files.get(name), self.previous.get(name)) if e]
        if not entries:
            return None
        path = directory / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return True          # gone: nothing of the user's to keep
        if not stat.S_ISREG(st.st_mode):
            return False
        if not any(e["size"] == st.st_size for e in entries):
            return False
        digest = sha256_file(path)[1]
        return any(e["sha256"] == digest for e in entries)


def _valid_name(name) -> bool:
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name:
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def _valid_entry(entry) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("size"), int)
            and not isinstance(entry.get("size"), bool) and entry["size"] >= 0
            and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64)


def read_manifest(directory: Path) -> Optional[Manifest]:
    """The folder's manifest, or None when it has none, or one that is not snncc's."""
    path = Path(directory) / MANIFEST
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_MANIFEST_BYTES:
        return None
    try:
        body = json.loads(path.read_bytes())
    except (ValueError, OSError):
        return None
    if not isinstance(body, dict) or body.get("format") != FORMAT or body.get("version") != VERSION:
        return None
    files, previous = body.get("files"), body.get("previous", {})
    if not isinstance(files, dict) or not isinstance(previous, dict):
        return None
    for entries in (files, previous):
        if not all(_valid_name(k) and k != MANIFEST and _valid_entry(v) for k, v in entries.items()):
            return None
    state = body.get("state")
    if state not in ("complete", "pending"):
        return None
    meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
    return Manifest(files, state, meta, previous)


def entries_for(directory: Path) -> dict[str, dict]:
    """Manifest entries of every regular file under ``directory`` (recursively)."""
    out = {}
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            rel = path.relative_to(directory).as_posix()
            if rel == MANIFEST:
                continue
            size, digest = sha256_file(path)
            out[rel] = {"size": size, "sha256": digest}
    return out


def check_build(directory: Path, names: tuple[str, ...]) -> Optional[Manifest]:
    """Refuse a build folder whose files ``names`` differ from what snncc wrote.

    Returns the manifest, or None when the folder has none (a folder written by the API's
    :func:`snncc.ir.serialize.save`, or by hand): then only the load checks apply.
    Raises :class:`SnnccError` for a pending (interrupted) build or a changed file.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest is None:
        if (directory / MANIFEST).exists():
            raise SnnccError(f"{directory / MANIFEST} is not a manifest snncc can read",
                             "recompile with `snncc compile`")
        return None
    fix = (f"recompile with `snncc compile`; to run a build you edited on purpose, delete "
           f"{directory / MANIFEST}")
    if manifest.state != "complete":
        raise SnnccError(f"{directory} is an incomplete build (a compile into it was "
                         "interrupted)", "recompile with `snncc compile`")
    for name in names:
        if name not in manifest.files:
            raise SnnccError(f"{directory / name} is not listed in {MANIFEST}", fix)
        if manifest.owns(directory, name) is False:
            raise SnnccError(f"{directory / name} was changed after snncc compiled it "
                             "(size or SHA-256 differs from its manifest)", fix)
    return manifest
