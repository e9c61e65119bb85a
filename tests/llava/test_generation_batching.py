"""Cached generation equals uncached; a padded mixed batch equals each sample alone (left and right padding)."""

import pytest
import torch

from llava.testing.tiny_llava import TinyLlava, random_images
from tests.llava.helpers import IMAGE_COUNTS, PROMPTS, encode, greedy_without_cache, pad_batch


def _images_for(counts: list[int], seed: int) -> list[torch.Tensor]:
    images = random_images(sum(counts), seed=seed)
    out, cursor = [], 0
    for n in counts:
        out.append(images[cursor : cursor + n])
        cursor += n
    return out


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_batch_equals_each_sample(tiny: TinyLlava, side: str) -> None:
    rows = [encode(tiny.tokenizer, p) for p in PROMPTS]
    per_sample = _images_for(IMAGE_COUNTS, seed=7)
    ids, mask = pad_batch(rows, tiny.tokenizer.pad_token_id, side)
    batched = tiny.model(input_ids=ids, attention_mask=mask, images=torch.cat(per_sample)).logits
    for i, (row, images) in enumerate(zip(rows, per_sample, strict=True)):
        alone = tiny.model(input_ids=row.unsqueeze(0), images=images if len(images) else None).logits[0]
        n = alone.shape[0]
        got = batched[i, -n:] if side == "left" else batched[i, :n]
        torch.testing.assert_close(got, alone, rtol=1e-4, atol=1e-5)


def test_cached_generation_equals_uncached_and_batch_equals_alone(tiny: TinyLlava) -> None:
    rows = [encode(tiny.tokenizer, p) for p in PROMPTS]
    per_sample = _images_for(IMAGE_COUNTS, seed=8)
    ids, mask = pad_batch(rows, tiny.tokenizer.pad_token_id, "left")
    kwargs = {"max_new_tokens": 8, "do_sample": False, "min_new_tokens": 8}
    cached = tiny.model.generate(ids, attention_mask=mask, images=torch.cat(per_sample), **kwargs)
    assert torch.equal(cached, greedy_without_cache(tiny.model, ids, mask, torch.cat(per_sample), steps=8))
    for i, (row, images) in enumerate(zip(rows, per_sample, strict=True)):
        alone = tiny.model.generate(row.unsqueeze(0), images=images if len(images) else None, **kwargs)
        assert torch.equal(alone[0], cached[i])


def test_generation_refuses_right_padding(tiny: TinyLlava) -> None:
    ids, mask = pad_batch([encode(tiny.tokenizer, p) for p in PROMPTS[:2]], tiny.tokenizer.pad_token_id, "right")
    with pytest.raises(ValueError, match="left padding"):
        tiny.model.generate(ids, attention_mask=mask, images=random_images(1), max_new_tokens=2)
