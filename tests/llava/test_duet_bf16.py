"""DUET trains and generates in bf16: with bf16 weights and under `torch.autocast(bfloat16)`, on both stages.

Before, T2V scoring under autocast produced bf16 logits and then filled masked keys with float32's minimum, which
does not fit bf16 ("value cannot be converted to type c10::BFloat16 without overflow"). Scoring now runs in fp32
outside autocast and every mask is built in the dtype it is added to.
"""

from contextlib import nullcontext

import pytest
import torch

import duet
from duet.config import DuetConfig
from llava.testing.tiny_llava import build_tiny_llava, random_images
from tests.llava.helpers import IMAGE_COUNTS, PROMPTS, encode, pad_batch

TINY_DUET = DuetConfig(
    dominant=40, contextual=12, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.25), query="instruction"
)


@pytest.mark.parametrize(
    ("mode", "attn"), [("bf16-weights", "sdpa"), ("bf16-weights", "eager"), ("autocast", "sdpa"), ("autocast", "eager")]
)
def test_training_step_and_generation_in_bf16(mode: str, attn: str) -> None:
    tiny = build_tiny_llava(seed=2, attn_implementation=attn)
    model = duet.apply(tiny.model, TINY_DUET)
    if mode == "bf16-weights":
        model.to(torch.bfloat16)
    precision = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "autocast" else nullcontext()
    rows = [encode(tiny.tokenizer, p) for p in PROMPTS]
    images = random_images(sum(IMAGE_COUNTS), seed=3)
    ids, mask = pad_batch(rows, tiny.tokenizer.pad_token_id, "right")
    labels = ids.masked_fill((mask == 0) | (ids < 0), -100)

    model.train()
    with precision:
        out = model(input_ids=ids, attention_mask=mask, images=images, labels=labels)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grad = model.get_model().mm_projector[0].weight.grad
    assert grad is not None and bool(torch.isfinite(grad).all()) and float(grad.abs().sum()) > 0
    n0 = TINY_DUET.dominant + TINY_DUET.contextual
    assert [m.sum(dim=1).tolist() for m in out.t2v_keep_masks] == [[26, 0, 52], [13, 0, 26]]
    assert out.visual_token_mask.sum(dim=1).tolist() == [n0, 0, 2 * n0]

    model.eval()
    left_ids, left_mask = pad_batch(rows, tiny.tokenizer.pad_token_id, "left")
    with precision:
        generated = model.generate(left_ids, attention_mask=left_mask, images=images, max_new_tokens=3, min_new_tokens=3)
    assert generated.shape == (3, 3)
