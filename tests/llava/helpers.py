"""Prompt building shared by the LLaVA host tests."""

import torch
from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration, PreTrainedTokenizerBase

from llava.mm_utils import tokenizer_image_token
from llava.testing.tiny_llava_hf import hf_state_dict


def encode(tokenizer: PreTrainedTokenizerBase, prompt: str) -> torch.Tensor:
    """Token ids of `prompt` with one −200 sentinel per `<image>`."""
    return torch.tensor(tokenizer_image_token(prompt, tokenizer))


def pad_batch(rows: list[torch.Tensor], pad_id: int, side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad 1-D id tensors to one batch on `side`; returns (ids, attention_mask)."""
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, row in enumerate(rows):
        span = slice(length - len(row), length) if side == "left" else slice(0, len(row))
        ids[i, span], mask[i, span] = row, 1
    return ids, mask


@torch.no_grad()
def greedy_without_cache(
    model, ids: torch.Tensor, mask: torch.Tensor, images: torch.Tensor, steps: int, t2v_query_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The reference for cached generation: every step recomputes the whole (left-padded) sequence, no KV cache.

    Generated tokens are passed as labels: they are answer text, so they never join DUET's T2V query set, which
    must stay the prompt's (as it is in a cached prefill).
    """
    generated = ids.new_zeros(ids.shape[0], 0)
    for _ in range(steps):
        full = torch.cat([ids, generated], dim=1)
        full_mask = torch.cat([mask, torch.ones_like(generated)], dim=1)
        labels = torch.cat([torch.full_like(ids, -100), generated], dim=1)
        logits = model(
            input_ids=full, attention_mask=full_mask, images=images, labels=labels, t2v_query_mask=t2v_query_mask
        ).logits
        generated = torch.cat([generated, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    return generated


PROMPTS = [
    "USER: <image>\nWhat color is the circle? ASSISTANT:",
    "USER: How many sides does a square have? ASSISTANT:",
    "USER: <image>\nIs the red square left or right of the <image> blue one in the second picture? ASSISTANT:",
]
IMAGE_COUNTS = [1, 0, 2]


def hf_llava_twin(model, image_token_id: int) -> LlavaForConditionalGeneration:
    """transformers' own LLaVA holding the same weights (the reference for parity and the native-layout loader)."""
    text = {k: v for k, v in model.config.to_dict().items() if k in LlamaConfig.__dataclass_fields__}
    vision = model.get_vision_tower().config
    config = LlavaConfig(
        text_config=LlamaConfig(**text),
        vision_config=vision,
        image_token_id=image_token_id,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
        image_seq_length=576,
    )
    twin = LlavaForConditionalGeneration._from_config(config, attn_implementation="eager").eval()
    twin.load_state_dict(hf_state_dict(model, model.config.vocab_size), strict=True)
    return twin
