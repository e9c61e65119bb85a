"""Tiny checkpoints and benchmark-shaped data for the eval tests (no dataset or weights are downloaded)."""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from llava.testing.tiny_llava import build_tiny_llava, save_released_layout

# The tiny LLM has 4 decoder layers and 576 patches per image: the paper presets' stage layers (16, 24) do not
# exist there, so the tests keep a preset's other fields and override the geometry-dependent ones.
TINY_DUET_ARGS = [
    "--duet-preset", "llava-1.5:64", "--dominant", "40", "--contextual", "12",
    "--layer-list", "[2,3]", "--image-token-ratio-list", "[0.5,0.0]", "--t2v-query", "salient",
]  # fmt: skip
TINY_SCHEDULE = "layers 1-2: 52, 3: 26, 4: 0"
FAST_DECODING = ["--temperature", "0", "--conv-mode", "vicuna_v1", "--max_new_tokens", "3"]

VQA_QUESTIONS = [
    "What color is the circle?\nAnswer the question using a single word or phrase.",
    "what is the brand of this camera?\nReference OCR token: dakota, digital, 2013\n"
    "Answer the question using a single word or phrase.",
    "Is there a red square in the image? Please answer yes or no.",
]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA saved as `liuhaotian/llava-v1.5-7b` is laid out (CLIP in its own folder)."""
    return save_released_layout(build_tiny_llava(seed=0), tmp_path_factory.mktemp("checkpoint"))


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny matmuls are slower with two threads on a busy 2-core machine; restore the setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write_images(folder: Path, count: int, seed: int = 0) -> list[str]:
    """Random RGB PNGs of different (non-square) sizes; returns their file names."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for i in range(count):
        name = f"{i:04d}.png"
        Image.fromarray(rng.integers(0, 255, (40 + 8 * i, 64, 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    return names


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def vqa_files(tmp_path: Path) -> tuple[Path, Path]:
    """A `model_vqa_loader` question file with 3 questions and its image folder."""
    images = write_images(tmp_path / "images", len(VQA_QUESTIONS))
    questions = [
        {"question_id": f"q{i}", "image": name, "text": text}
        for i, (name, text) in enumerate(zip(images, VQA_QUESTIONS, strict=True))
    ]
    return write_jsonl(tmp_path / "questions.jsonl", questions), tmp_path / "images"


def with_provenance(records: list[dict], preset: str | None = "full", model_id: str = "llava-v1.5-7b") -> list[dict]:
    """Answer records as a generator writes them (model_id + metadata), for run-record tests."""
    tokens = (
        {"layer_averaged": 576.0, "llm_input": 576}
        if preset in (None, "full")
        else {"layer_averaged": 63.75, "llm_input": 102}
    )
    metadata = {"duet": None, "duet_preset": preset, "query_path": "none", "temporal_attention": None,
                "visual_tokens": tokens}  # fmt: skip
    return [{**record, "model_id": model_id, "metadata": metadata} for record in records]


def read_record(path: Path) -> dict:
    return json.loads(path.read_text())
