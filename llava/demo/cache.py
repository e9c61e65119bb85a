"""A folder cache for the demo's pretrained starting point (the vision tower, `llava.demo.tower`).

Each entry is `<cache>/<name>-seed<seed>-<hash>/`, the hash covering everything that determines its weights, so a
second run with the same settings reuses it and a changed setting gets its own entry. An entry is built in a
temporary folder and renamed when complete, and it counts as present only when its record file exists: an
interrupted run leaves nothing that a later run would take for a finished entry.
"""

import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path


def key(identity: dict) -> str:
    """A short, stable hash of a JSON-serialisable description."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


def cached_folder(
    cache: Path, name: str, seed: int, identity: dict, record: str, build: Callable[[Path], None]
) -> Path:
    """The entry for `identity`, calling `build(folder)` to fill it when absent (`build` must write `record`)."""
    folder = Path(cache) / f"{name}-seed{seed}-{key(identity)}"
    if (folder / record).is_file():
        print(f"[cache] reusing {folder}", file=sys.stderr)
        return folder
    Path(cache).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=cache))
    try:
        build(scratch)
        if not (scratch / record).is_file():
            raise RuntimeError(f"building {folder.name} wrote no {record}")
        shutil.rmtree(folder, ignore_errors=True)  # a folder without its record is an interrupted older write
        scratch.chmod(0o755)  # mkdtemp's folders are private; entries are ordinary checkpoint folders
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folder
