"""Bad checkpoints and bad inputs fail with a message that names the problem."""

import json
import shutil
from pathlib import Path

import pytest
import torch

from llava.model.builder import load_pretrained_model
from llava.testing.tiny_llava import TinyLlava, random_images
from tests.llava.helpers import PROMPTS, encode


def _copy_with_config(folder: Path, target: Path, **changes) -> Path:
    shutil.copytree(folder, target)
    config = json.loads((target / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    (target / "config.json").write_text(json.dumps(config))
    return target


def test_checkpoint_without_vision_tower(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    folder = _copy_with_config(released[1], tmp_path / "no-tower", mm_vision_tower=None)
    with pytest.raises(ValueError, match="mm_vision_tower"):
        load_pretrained_model(str(folder))


def test_unknown_projector_type(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    folder = _copy_with_config(released[1], tmp_path / "bad-proj", mm_projector_type="mlp2x_relu")
    with pytest.raises(ValueError, match="Unknown mm_projector_type 'mlp2x_relu'"):
        load_pretrained_model(str(folder))


def test_missing_vision_tower_path(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    folder = _copy_with_config(released[1], tmp_path / "gone", mm_vision_tower=str(tmp_path / "nowhere" / "clip"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pretrained_model(str(folder))


def test_vision_tower_override_redirects(released: tuple[TinyLlava, Path], tmp_path: Path) -> None:
    tiny, original = released
    folder = _copy_with_config(original, tmp_path / "moved", mm_vision_tower="/not/here/clip")
    _, model, _, _ = load_pretrained_model(str(folder), vision_tower=tiny.model.config.mm_vision_tower)
    assert model.get_vision_tower().is_loaded


def test_image_count_must_match_placeholders(tiny: TinyLlava) -> None:
    ids = encode(tiny.tokenizer, PROMPTS[0]).unsqueeze(0)
    with pytest.raises(ValueError, match=r"Got 2 image\(s\) for 1 <image> placeholder"):
        tiny.model(input_ids=ids, images=random_images(2))
    with pytest.raises(ValueError, match=r"Got 0 image\(s\) for 1 <image> placeholder"):
        tiny.model(input_ids=ids)


def test_prompt_longer_than_context(tiny: TinyLlava) -> None:
    ids = encode(tiny.tokenizer, PROMPTS[0]).unsqueeze(0)
    limit = tiny.model.config.tokenizer_model_max_length
    tiny.model.config.tokenizer_model_max_length = 100
    try:
        with pytest.raises(ValueError, match="above the context length 100"):
            tiny.model(input_ids=ids, images=random_images(1))
        with pytest.raises(ValueError, match="above the context length 100"):
            tiny.model.generate(ids, images=random_images(1), max_new_tokens=2)
    finally:
        tiny.model.config.tokenizer_model_max_length = limit


def test_not_a_checkpoint_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a checkpoint folder"):
        load_pretrained_model(str(tmp_path))


def test_flash_attention_unavailable_is_explained(released: tuple[TinyLlava, Path]) -> None:
    if torch.cuda.is_available():
        pytest.skip("flash-attn may be installed on GPU machines")
    with pytest.raises(ValueError, match="flash-attn"):
        load_pretrained_model(str(released[1]), attn_implementation="flash_attention_2")
