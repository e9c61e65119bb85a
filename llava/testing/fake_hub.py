"""A Hugging Face cache written by hand, so that tests load "hub ids" offline through the real resolution code.

No weights can be downloaded on CI machines, but hub ids must load through exactly the code path a user's machine
takes. huggingface_hub resolves an id offline from its cache alone, whose layout is fixed:

    <cache>/models--<org>--<name>/blobs/<digest>                    the file contents
    <cache>/models--<org>--<name>/snapshots/<commit>/<path>         symlinks to ../../blobs/<digest>
    <cache>/models--<org>--<name>/refs/<branch or tag>              the commit the name points at

`add_to_hub_cache` writes a local folder in that layout; with `HF_HOME` (or `HF_HUB_CACHE`) pointing at the cache and
`HF_HUB_OFFLINE=1`, `huggingface_hub.snapshot_download(repo_id)` then returns the snapshot, as it would after a real
download.
"""

import hashlib
import os
from pathlib import Path


def repo_cache_folder(cache: Path, repo_id: str) -> Path:
    """`models--org--name`, huggingface_hub's folder for a model repo."""
    return Path(cache) / ("models--" + repo_id.replace("/", "--"))


def add_to_hub_cache(cache: Path, repo_id: str, folder: Path, revision: str = "main") -> Path:
    """Store every file under `folder` as revision `revision` of `repo_id`; returns the snapshot folder.

    The commit hash is derived from the contents, so different contents under another revision get their own
    snapshot and the same contents are stored once.
    """
    files = sorted(path for path in Path(folder).rglob("*") if path.is_file())
    if not files:
        raise ValueError(f"{folder} holds no files to put into the cache.")
    digests = {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    commit = hashlib.sha1(
        "".join(f"{path.relative_to(folder)}:{digests[path]}\n" for path in files).encode()
    ).hexdigest()
    repo = repo_cache_folder(cache, repo_id)
    snapshot = repo / "snapshots" / commit
    for path in files:
        blob = repo / "blobs" / digests[path]
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(path.read_bytes())
        link = snapshot / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return snapshot
