"""Shared tiny-model fixtures for the LLaVA host tests."""

from pathlib import Path

import pytest

from llava.testing.tiny_llava import TinyLlava, build_tiny_llava, save_released_layout


@pytest.fixture(scope="module")
def tiny() -> TinyLlava:
    return build_tiny_llava(seed=0)


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[TinyLlava, Path]:
    """A tiny model saved in `liuhaotian/llava-v1.5-*`'s layout, and its folder."""
    tiny = build_tiny_llava(seed=1)
    return tiny, save_released_layout(tiny, tmp_path_factory.mktemp("released"))
