"""Shared tiny Video-LLaVA fixtures: models, both saved layouts, and a fake HF hub cache holding the real repo ids."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hub_constants

from llava.testing.tiny_video_llava import (
    HF_ID,
    ORIGINAL_ID,
    TinyVideoLlava,
    build_tiny_video_llava,
    install_in_hub_cache,
    save_hf_layout,
    save_original_layout,
    save_tower_repos,
)


@dataclass
class SavedVideoLlava:
    """A tiny model saved in both layouts, and the fake hub cache where the tower repos (and both models) live."""

    tiny: TinyVideoLlava
    original: Path
    hf: Path
    hub_cache: Path


@pytest.fixture(scope="module")
def tiny_video() -> TinyVideoLlava:
    return build_tiny_video_llava(seed=0)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> SavedVideoLlava:
    root = tmp_path_factory.mktemp("video_llava")
    tiny = build_tiny_video_llava(seed=1)
    original = save_original_layout(tiny, root)
    hf = save_hf_layout(tiny, root)
    hub = root / "hub"
    for repo_id, folder in save_tower_repos(root / "towers").items():
        install_in_hub_cache(hub, repo_id, folder)
    install_in_hub_cache(hub, ORIGINAL_ID, original)
    install_in_hub_cache(hub, HF_ID, hf)
    return SavedVideoLlava(tiny=tiny, original=original, hf=hf, hub_cache=hub)


def use_fake_hub(patch: pytest.MonkeyPatch, cache: Path) -> None:
    """Point the Hub resolver (`llava.model.hub`, which reads the environment at call time) and huggingface_hub at
    the fake cache, offline: no request leaves the machine."""
    patch.setenv("HF_HUB_CACHE", str(cache))
    patch.setenv("HF_HUB_OFFLINE", "1")
    patch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    patch.setattr(hub_constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def offline_hub(saved: SavedVideoLlava, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_fake_hub(monkeypatch, saved.hub_cache)
    return saved.hub_cache


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny matmuls run faster on one thread when the 2 CI cores are shared; the setting is restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
