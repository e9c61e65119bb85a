"""The original-layout host with temporal attention off == transformers' `VideoLlavaForConditionalGeneration`.

Both models hold the same (converted) weights. The prompts differ as the two layouts do: the original puts one
`<image>` placeholder (−200) per frame, eight in a row; transformers expands one `<video>` into 8 x 257 video tokens.
The sequences of embeddings the decoders see are therefore identical, and so must be every logit.
"""

import pytest
import torch

from llava.constants import IMAGE_TOKEN_INDEX
from llava.testing.tiny_video_llava import build_tiny_video_llava, convert_to_hf

FRAMES, PER_FRAME, PER_IMAGE = 8, 257, 256


@pytest.fixture(scope="module")
def pair():
    tiny = build_tiny_video_llava(seed=3)
    tiny.model.set_temporal_attention(False)
    hf, _ = convert_to_hf(tiny)
    return tiny, hf


def prompt_ids(tiny, question: str) -> tuple[list[int], list[int]]:
    ids = tiny.tokenizer(f"USER: {question} ASSISTANT:").input_ids
    return ids[:3], ids[3:]


def original_and_hf_ids(tiny, hf, question: str, kind: str) -> tuple[list[int], list[int]]:
    head, tail = prompt_ids(tiny, question)
    if kind == "video":
        return head + [IMAGE_TOKEN_INDEX] * FRAMES + tail, head + [hf.config.video_token_id] * (
            FRAMES * PER_FRAME
        ) + tail
    return head + [IMAGE_TOKEN_INDEX] + tail, head + [hf.config.image_token_id] * PER_IMAGE + tail


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_video_logits_equal_transformers(pair) -> None:
    tiny, hf = pair
    ours_ids, hf_ids = original_and_hf_ids(tiny, hf, "what is the person doing?", "video")
    video = torch.randn(1, 3, FRAMES, 224, 224, generator=generator(0))  # (B, C, T, H, W): the original layout
    with torch.no_grad():
        ours = tiny.model(input_ids=torch.tensor([ours_ids]), images=video).logits
        theirs = hf(input_ids=torch.tensor([hf_ids]), pixel_values_videos=video.transpose(1, 2)).logits
    assert ours.shape[1] == theirs.shape[1] == len(ours_ids) - FRAMES + FRAMES * PER_FRAME
    vocab = ours.shape[-1]
    torch.testing.assert_close(ours, theirs[..., :vocab], rtol=1e-5, atol=1e-5)


def test_mixed_image_and_video_batch_equals_transformers(pair) -> None:
    """One batch, an image sample and a video sample, right-padded; logits at every valid position agree."""
    tiny, hf = pair
    image_ids, hf_image_ids = original_and_hf_ids(tiny, hf, "what colour is the square?", "image")
    video_ids, hf_video_ids = original_and_hf_ids(tiny, hf, "does it move?", "video")
    image = torch.randn(3, 224, 224, generator=generator(1))
    video = torch.randn(3, FRAMES, 224, 224, generator=generator(2))

    def padded(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(map(len, rows))
        ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows])
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
        return ids, mask

    ours_ids, ours_mask = padded([image_ids, video_ids], tiny.tokenizer.pad_token_id)
    hf_ids, hf_mask = padded([hf_image_ids, hf_video_ids], hf.config.pad_token_id)
    with torch.no_grad():
        ours = tiny.model(input_ids=ours_ids, attention_mask=ours_mask, images=[image, video]).logits
        theirs = hf(
            input_ids=hf_ids,
            attention_mask=hf_mask,
            pixel_values=image[None],
            pixel_values_videos=video.transpose(0, 1)[None],
        ).logits
    vocab = ours.shape[-1]
    for row, length in enumerate((len(hf_image_ids), len(hf_video_ids))):
        torch.testing.assert_close(ours[row, :length], theirs[row, :length, :vocab], rtol=1e-5, atol=1e-5)


def test_temporal_attention_changes_the_answer_distribution(pair) -> None:
    """With the temporal weights on (the model as trained) the logits differ from the spatial-only conversion."""
    tiny, hf = pair
    ours_ids, _ = original_and_hf_ids(tiny, hf, "what is the person doing?", "video")
    video = torch.randn(1, 3, FRAMES, 224, 224, generator=generator(0))
    with torch.no_grad():
        off = tiny.model(input_ids=torch.tensor([ours_ids]), images=video).logits
        tiny.model.set_temporal_attention(True)
        on = tiny.model(input_ids=torch.tensor([ours_ids]), images=video).logits
        tiny.model.set_temporal_attention(False)
    assert (on[0, -1] - off[0, -1]).abs().max() > 1e-3


def test_placeholder_count_must_match_frames(pair) -> None:
    tiny, _ = pair
    head, tail = prompt_ids(tiny, "what happens?")
    with pytest.raises(ValueError, match=r"each video takes one <image> per frame \(8\)"):
        tiny.model(input_ids=torch.tensor([head + [IMAGE_TOKEN_INDEX] + tail]), images=torch.randn(1, 3, 8, 224, 224))
