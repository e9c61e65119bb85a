"""Read weight files safely: safetensors, or pickles through `torch.load(weights_only=True)` only."""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file


def load_weight_file(path: str | Path) -> dict[str, torch.Tensor]:
    """One `.safetensors` or `.bin` file; a pickle that holds anything but tensors is refused by torch."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Weight file {path} does not exist.")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    return torch.load(path, map_location="cpu", weights_only=True)


def load_folder_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """All weights of a (possibly sharded) checkpoint folder, safetensors preferred."""
    folder = Path(folder)
    for index_name, single in (
        ("model.safetensors.index.json", "model.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model.bin"),
    ):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            state: dict[str, torch.Tensor] = {}
            for shard in shards:
                state.update(load_weight_file(folder / shard))
            return state
        if (folder / single).is_file():
            return load_weight_file(folder / single)
    raise FileNotFoundError(f"No model weights (safetensors or pytorch_model.bin) in {folder}.")


def strip_prefix(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Keys that start with `prefix`, without it."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
