"""Every preset runs on a tiny LLaVA with the real geometry (32 layers, 576 patches); `duet show` draws a picture."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from duet.cli import main as duet_cli
from duet.presets import list_presets
from llava.conversation import conv_templates
from llava.duet_queries import build_t2v_query_mask
from llava.mm_utils import process_images, tokenizer_image_token
from llava.model.builder import load_pretrained_model
from llava.testing.tiny_llava import TinyLlava, build_tiny_llava, save_released_layout

QUESTION = "What color is the small circle on the left?"


@pytest.fixture(scope="module")
def deep_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model as deep as LLaVA-1.5-7B (32 layers) so the paper's stage layers 16/24 exist."""
    tiny: TinyLlava = build_tiny_llava(seed=9, llama_overrides={"num_hidden_layers": 32})
    return save_released_layout(tiny, tmp_path_factory.mktemp("deep"))


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "shapes.png"
    image = Image.new("RGB", (400, 300), (240, 240, 240))
    image.paste((220, 30, 30), (40, 100, 120, 180))
    image.save(path)
    return path


@pytest.mark.parametrize("preset", list_presets())
def test_every_preset_generates(deep_checkpoint: Path, picture: Path, preset: str) -> None:
    tokenizer, model, processor, _ = load_pretrained_model(str(deep_checkpoint), duet=preset)
    conversation = conv_templates["vicuna_v1"].copy()
    conversation.append_message(conversation.roles[0], f"<image>\n{QUESTION}")
    conversation.append_message(conversation.roles[1], None)
    prompt = conversation.get_prompt()
    ids = tokenizer_image_token(prompt, tokenizer, return_tensors="pt").unsqueeze(0)
    queries = torch.tensor([build_t2v_query_mask(tokenizer, prompt, QUESTION)])
    pixels = process_images([Image.open(picture)], processor, model.config)
    out = model.generate(ids, images=pixels, t2v_query_mask=queries, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert out.shape == (1, 4)
    assert (model.duet is None) == (preset == "full")


def test_duet_show_writes_the_picture(deep_checkpoint: Path, picture: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.png"
    code = duet_cli(
        ["show", "--model-path", str(deep_checkpoint), "--image", str(picture), "--question", QUESTION,
         "--preset", "llava-1.5:64", "--out", str(out)]
    )
    assert code == 0
    drawn = Image.open(out)
    assert drawn.width > 3 * drawn.height // 2  # three panels side by side: V2V, after 16, after 24
