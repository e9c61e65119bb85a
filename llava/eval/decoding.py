"""Generation for the eval CLIs: LLaVA's decoding flags, left-padded batches, and answer decoding.

LLaVA asserts batch size 1; batches larger than one are an extension here and produce the same answers because
`generate` supports left padding exactly (tests/llava/test_duet_model.py). Sampling parameters are only passed
when sampling, since transformers warns about (or rejects) `temperature=0` with greedy decoding.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM


@dataclass(frozen=True)
class DecodingOptions:
    """`--temperature --top_p --num_beams --max_new_tokens`; temperature 0 means greedy."""

    temperature: float
    top_p: float | None
    num_beams: int
    max_new_tokens: int

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "DecodingOptions":
        return cls(args.temperature, args.top_p, args.num_beams, args.max_new_tokens)

    def generate_kwargs(self) -> dict:
        kwargs: dict = {
            "do_sample": self.temperature > 0,
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
        }
        if self.temperature > 0:
            kwargs["temperature"] = self.temperature
            if self.top_p is not None:
                kwargs["top_p"] = self.top_p
        return kwargs


def left_pad(rows: Sequence[torch.Tensor], pad_value: int | bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D tensors padded on the LEFT (what `generate` needs), with the attention mask."""
    length = max(len(row) for row in rows)
    stacked = torch.full((len(rows), length), pad_value, dtype=rows[0].dtype)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        stacked[i, length - len(row) :] = row
        mask[i, length - len(row) :] = 1
    return stacked, mask


def pad_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """Vicuna's tokenizer pads with `<unk>`; a tokenizer without a pad token pads with its eos."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad is None:
        raise ValueError("The tokenizer has neither a pad nor an eos token; set tokenizer.pad_token.")
    return pad


@torch.inference_mode()
def generate_texts(
    model: LlavaLlamaForCausalLM,
    tokenizer: PreTrainedTokenizerBase,
    input_ids: Sequence[torch.Tensor],
    images: torch.Tensor | None,
    image_sizes: Sequence[tuple[int, int]] | None,
    query_masks: Sequence[torch.Tensor] | None,
    options: DecodingOptions,
) -> tuple[list[str], int]:
    """Answers (stripped, special tokens removed) for a batch of prompts, and the number of tokens generated."""
    pad = pad_token_id(tokenizer)
    ids, attention_mask = left_pad(input_ids, pad)
    extra = {}
    if query_masks is not None:
        extra["t2v_query_mask"] = left_pad(query_masks, False)[0].to(model.device)
    if images is not None:
        images = images.to(device=model.device, dtype=model.dtype)
    output = model.generate(
        ids.to(model.device),
        images=images,
        image_sizes=list(image_sizes) if image_sizes is not None else None,
        attention_mask=attention_mask.to(model.device),
        pad_token_id=pad,
        use_cache=True,
        **extra,
        **options.generate_kwargs(),
    )
    texts = [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
    return texts, int((output != pad).sum())
