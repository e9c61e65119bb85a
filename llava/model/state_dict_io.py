"""Read weight files safely: safetensors, or pickles through `torch.load(weights_only=True)` only."""

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file


def load_weight_file(path: str | Path, keys_with_prefix: str | None = None) -> dict[str, torch.Tensor]:
    """One `.safetensors` or `.bin` file; a pickle that holds anything but tensors is refused by torch.

    With `keys_with_prefix`, only those tensors are returned (and, from safetensors, only those are read).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Weight file {path} does not exist.")
    if path.suffix == ".safetensors":
        if keys_with_prefix is None:
            return load_file(str(path))
        with safe_open(str(path), "pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys() if k.startswith(keys_with_prefix)}
    state = torch.load(path, map_location="cpu", weights_only=True)
    return state if keys_with_prefix is None else {k: v for k, v in state.items() if k.startswith(keys_with_prefix)}


def weight_names(folder: str | Path) -> list[str]:
    """The tensor names a checkpoint folder holds, read from its index or file headers (no tensor is loaded)."""
    folder = Path(folder)
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index_name).is_file():
            return sorted(json.loads((folder / index_name).read_text())["weight_map"])
    names: list[str] = []
    for file in weight_files(folder):
        if file.suffix == ".safetensors":
            with safe_open(str(file), "pt") as handle:
                names += list(handle.keys())
        else:
            names += list(torch.load(file, map_location="cpu", weights_only=True, mmap=True))
    return sorted(names)


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a (possibly sharded) checkpoint folder, safetensors preferred."""
    folder = Path(folder)
    for index_name, single in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        index = folder / index_name
        if index.is_file():
            return [folder / shard for shard in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
        if (folder / single).is_file():
            return [folder / single]
    raise FileNotFoundError(
        f"No model weights (model.safetensors or pytorch_model.bin, possibly sharded) in {folder}: the checkpoint is "
        "incomplete. Fix: download or copy its weight files into the folder."
    )


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys that start with `prefix`, without it."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
