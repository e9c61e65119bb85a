"""LLaVA's multimodal helpers: exact token ids, pixel values, names, and per-row stopping."""

from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from transformers import CLIPImageProcessor, StoppingCriteriaList

from llava.constants import IMAGE_TOKEN_INDEX
from llava.mm_utils import (
    KeywordsStoppingCriteria,
    expand2square,
    get_model_name_from_path,
    process_images,
    tokenizer_image_token,
)
from llava.testing import build_tiny_tokenizer

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMG = IMAGE_TOKEN_INDEX


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def _pieces(tokenizer, ids: list[int]) -> list[str | int]:
    return [tokenizer.convert_ids_to_tokens(i) if i >= 0 else i for i in ids]


def test_tokenizer_image_token_keeps_one_bos_and_inserts_the_sentinel(tokenizer) -> None:
    ids = tokenizer_image_token("USER: <image>\nWhat is this? ASSISTANT:", tokenizer)
    # The chunk after the image is tokenized on its own, so it starts with sentencepiece's "▁" (Llama's 29871).
    assert _pieces(tokenizer, ids) == [
        "<s>", "▁USER", ":", "▁", IMG, "▁", "<0x0A>", "What", "▁is", "▁this", "?", "▁ASSISTANT", ":",
    ]  # fmt: skip
    assert ids == [1, 486, 280, 330, IMG, 330, 13, 450, 349, 994, 284, 399, 280]


def test_tokenizer_image_token_with_image_first_and_several_images(tokenizer) -> None:
    assert tokenizer_image_token("<image>A red circle.\n", tokenizer) == [1, IMG, 358, 596, 563, 268, 13]
    assert tokenizer_image_token("<image>", tokenizer) == [1, IMG]
    ids = tokenizer_image_token("Left <image> and right <image> shapes.", tokenizer)
    assert _pieces(tokenizer, ids) == [
        "<s>", "▁", "<0x4C>", "e", "ft", "▁", IMG, "▁and", "▁right", "▁", IMG, "▁sh", "ap", "es", ".",
    ]  # fmt: skip


def test_tokenizer_image_token_without_image_equals_plain_tokenization(tokenizer) -> None:
    text = "What color is the square?"
    assert tokenizer_image_token(text, tokenizer) == tokenizer(text).input_ids == [1, 467, 455, 349, 335, 547, 284]


def test_tokenizer_image_token_custom_index_and_tensors(tokenizer) -> None:
    ids = tokenizer_image_token("<image>\n(A)", tokenizer, image_token_index=-7, return_tensors="pt")
    assert ids.dtype == torch.long
    assert ids.tolist() == [1, -7, 330, 13, 264, 285, 265]
    with pytest.raises(ValueError, match="Unsupported tensor type: np"):
        tokenizer_image_token("<image>", tokenizer, return_tensors="np")  # type: ignore[arg-type]


def test_tokenizer_image_token_without_bos_drops_nothing() -> None:
    tokenizer = build_tiny_tokenizer()
    tokenizer.add_bos_token = False
    assert tokenizer_image_token("<image>\n(A)", tokenizer) == [IMG, 330, 13, 264, 285, 265]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("liuhaotian/llava-v1.5-7b", "llava-v1.5-7b"),
        ("/ckpt/llava-v1.5-7b-lora/", "llava-v1.5-7b-lora"),
        ("./checkpoints/llava-v1.5-7b/checkpoint-5000", "llava-v1.5-7b_checkpoint-5000"),
        ("checkpoints/run/checkpoint-12/", "run_checkpoint-12"),
        ("checkpoint-3", "checkpoint-3"),
        ("llava-plain", "llava-plain"),
    ],
)
def test_get_model_name_from_path(path: str, name: str) -> None:
    assert get_model_name_from_path(path) == name


def test_expand2square_pads_wide_and_tall_images_centred() -> None:
    wide = Image.new("RGB", (4, 2), (255, 0, 0))
    square = expand2square(wide, (1, 2, 3))
    assert square.size == (4, 4)
    # Offset (4 - 2) // 2 = 1: rows 1 and 2 hold the image.
    assert [square.getpixel((0, y)) for y in range(4)] == [(1, 2, 3), (255, 0, 0), (255, 0, 0), (1, 2, 3)]

    tall = Image.new("RGB", (1, 4), (0, 255, 0))
    square = expand2square(tall, (9, 9, 9))
    # Offset (4 - 1) // 2 = 1: column 1 holds the image.
    assert [square.getpixel((x, 0)) for x in range(4)] == [(9, 9, 9), (0, 255, 0), (9, 9, 9), (9, 9, 9)]


def test_expand2square_returns_a_square_image_itself() -> None:
    image = Image.new("RGB", (3, 3))
    assert expand2square(image, (0, 0, 0)) is image


@pytest.fixture(scope="module")
def clip_processor() -> CLIPImageProcessor:
    return CLIPImageProcessor(
        size={"shortest_edge": 336},
        crop_size={"height": 336, "width": 336},
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )


def _normalised(value: float, channel: int) -> float:
    return (value - CLIP_MEAN[channel]) / CLIP_STD[channel]


def test_process_images_pad_fills_with_the_mean_colour(clip_processor) -> None:
    images = [Image.new("RGB", (672, 336), (255, 0, 0)), Image.new("RGB", (336, 336), (0, 0, 255))]
    pixels = process_images(images, clip_processor, SimpleNamespace(image_aspect_ratio="pad"))
    assert isinstance(pixels, torch.Tensor)
    assert pixels.shape == (2, 3, 336, 336)
    # Padded to 672x672 then resized: rows 0..83 are background int(mean * 255), which normalises to ~0.
    for channel in range(3):
        background = _normalised(int(CLIP_MEAN[channel] * 255) / 255, channel)
        assert pixels[0, channel, 0, 0].item() == pytest.approx(background, abs=1e-5)
        assert pixels[0, channel, 335, 335].item() == pytest.approx(background, abs=1e-5)
    red = [_normalised(v, c) for c, v in enumerate((1.0, 0.0, 0.0))]
    assert pixels[0, :, 168, 0].tolist() == pytest.approx(red, abs=1e-5)
    blue = [_normalised(v, c) for c, v in enumerate((0.0, 0.0, 1.0))]
    assert pixels[1, :, 0, 0].tolist() == pytest.approx(blue, abs=1e-5)


def test_process_images_square_centre_crops(clip_processor) -> None:
    image = Image.new("RGB", (672, 336), (255, 0, 0))
    pixels = process_images([image], clip_processor, SimpleNamespace(image_aspect_ratio="square"))
    assert pixels.shape == (1, 3, 336, 336)
    red = [_normalised(v, c) for c, v in enumerate((1.0, 0.0, 0.0))]
    assert pixels[0, :, 0, 0].tolist() == pytest.approx(red, abs=1e-5)
    # A config without the field means "square", LLaVA's default.
    assert torch.equal(process_images([image], clip_processor, SimpleNamespace()), pixels)


def test_process_images_rejects_other_aspect_ratios(clip_processor) -> None:
    with pytest.raises(ValueError, match=r"'anyres' is not supported; use one of \('pad', 'square'\)"):
        process_images([Image.new("RGB", (4, 4))], clip_processor, SimpleNamespace(image_aspect_ratio="anyres"))


def test_keywords_stopping_criteria_stops_rows_independently(tokenizer) -> None:
    prompt = torch.tensor([[1, 486, 280], [1, 486, 280], [1, 486, 280]])
    criteria = KeywordsStoppingCriteria(["</s>", "###"], tokenizer, prompt)
    assert [ids.tolist() for ids in criteria.keyword_ids] == [[2], [330, 261, 261, 261]]
    generated = torch.tensor(
        [
            [358, 596, 268, 2, 0, 0],  # "</s>" then padding: no id match, and special tokens are not decoded
            [358, 596, 358, 261, 261, 261],  # "... A###": no "▁" before "#", so only the decoded text matches
            [358, 596, 563, 268, 358, 2],  # ends with the "</s>" id
        ]
    )
    output = torch.cat([prompt, generated], dim=1)
    done = criteria(output, None)
    assert done.dtype == torch.bool and done.shape == (3,)
    assert done.tolist() == [False, True, True]
    assert StoppingCriteriaList([criteria])(output, None).tolist() == [False, True, True]


def test_keywords_stopping_criteria_ignores_the_prompt(tokenizer) -> None:
    prompt = torch.tensor([[1, 358, 2], [1, 596, 2]])  # both prompts end with "</s>"
    criteria = KeywordsStoppingCriteria(["</s>"], tokenizer, prompt)
    assert criteria(prompt, None).tolist() == [False, False]
    assert criteria(torch.cat([prompt, torch.tensor([[2], [358]])], dim=1), None).tolist() == [True, False]
