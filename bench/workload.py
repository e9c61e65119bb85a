"""The benchmark's model and inputs: a random LLaVA with LLaVA-1.5's geometry where it matters, on either host.

32 decoder layers (so the paper's stage layers 16 / 24 and the peers' 2 / 8 exist) and 576 patch tokens per image
(so the presets' V2V counts apply); the width is what the machine affords. The vision tower is a small CLIP at
336 px: V2V's cost lives in its select layer, which every setting runs. Prompts of a batch differ in length, as real
questions do, so padding and re-packing are part of what is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import duet
from duet.config import DuetConfig
from llava.mm_utils import tokenizer_image_token
from llava.testing.tiny_llava import TinyLlava, build_tiny_llava, random_images
from llava.testing.tiny_llava_hf import build_llava_hf, expand_image_sentinels

ANSWER_TOKENS = 16
"""Supervised tokens per training sample (an answer after the prompt)."""


@dataclass(frozen=True)
class Shape:
    """The decoder's dimensions (`--hidden` etc.)."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int


@dataclass
class Batch:
    """One host's inputs for a batch: ids, attention mask, pixels (image argument name differs by host), labels."""

    inputs: dict[str, torch.Tensor]
    labels: torch.Tensor
    padded_text_tokens: int


class Workload:
    """A model on one host (``llava``: our LLaVA-1.5; ``hf``: transformers' `LlavaForConditionalGeneration`)."""

    def __init__(self, host: str, shape: Shape, attn: str, device: str, dtype: torch.dtype) -> None:
        self.host = host
        tiny = build_tiny_llava(
            seed=0,
            attn_implementation=attn,
            llama_overrides={
                "hidden_size": shape.hidden,
                "intermediate_size": shape.intermediate,
                "num_attention_heads": shape.heads,
                "num_key_value_heads": shape.kv_heads,
                "num_hidden_layers": shape.layers,
            },
        )
        self.tiny: TinyLlava = tiny
        self.model = tiny.model if host == "llava" else build_llava_hf(tiny, attn_implementation=attn)[0]
        self.model.to(device=device, dtype=dtype)
        self.device, self.dtype = device, dtype

    def configure(self, preset: str) -> DuetConfig:
        """Switch to ``preset``; salient queries become the released code's `instruction` (no question parsing here)."""
        config = DuetConfig.from_preset(preset)
        if config.query == "salient":
            config = DuetConfig(**{**config.to_dict(), "query": "instruction"})
        duet.apply(self.model, config)
        return config

    def batch(self, size: int, text_tokens: int, seed: int) -> Batch:
        """``size`` left-padded prompts of ``text_tokens`` ± up to ``size`` text tokens, one image each, answer labels."""
        lengths = [text_tokens + 2 * (i - (size - 1) / 2) for i in range(size)]
        prompts = [f"USER: <image>\n{' '.join(['shape'] * max(1, round(n)))} ASSISTANT:" for n in lengths]
        rows = [torch.tensor(tokenizer_image_token(p, self.tiny.tokenizer)) for p in prompts]
        pad = self.tiny.tokenizer.pad_token_id
        if self.host == "hf":
            image_id = self.model.config.image_token_id
            rows = [expand_image_sentinels(r, image_id, 576) for r in rows]
            pad = self.model.config.pad_token_id
        width = max(len(r) for r in rows)
        ids = torch.full((size, width), pad, dtype=torch.long)
        mask = torch.zeros(size, width, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :], mask[i, width - len(row) :] = row, 1
        labels = torch.full_like(ids, -100)
        labels[:, -ANSWER_TOKENS:] = ids[:, -ANSWER_TOKENS:]
        pixels = random_images(size, seed=seed).to(device=self.device, dtype=self.dtype)
        image_key = "images" if self.host == "llava" else "pixel_values"
        inputs = {"input_ids": ids.to(self.device), "attention_mask": mask.to(self.device), image_key: pixels}
        text = width - (576 if self.host == "hf" else 1)  # what every sample computes, padding included
        return Batch(inputs=inputs, labels=labels.to(self.device), padded_text_tokens=text)
