"""`LlamaDecoderAdapter`: the DUET engine's view of a transformers Llama decoder (`LlamaModel`).

One adapter serves every host built on `LlamaModel` — our `LlavaLlamaForCausalLM` and transformers' own
`LlavaForConditionalGeneration` / `VideoLlavaForConditionalGeneration`, whose `language_model` is a `LlamaModel`.
It exposes the layers, rotary embedding and final norm as they are, and for T2V scoring each layer's input norm,
q/k projections and Llama's rotary application. `check_llama_decoder` refuses layouts the engine cannot drop tokens
from (sliding-window or linear-attention layers, a head layout that is not Llama's), naming the host and the part.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import LlamaModel
from transformers.models.llama.modeling_llama import rotate_half

from duet.adapter import ScoringParts


def apply_llama_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Llama's rotary embedding of (B, heads, T, head_dim) ``x`` with (B, T, head_dim) ``cos``/``sin``."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
    return x * cos + rotate_half(x) * sin


def check_llama_decoder(decoder: torch.nn.Module, host: str) -> None:
    """Raise if ``decoder`` is not a Llama-style stack of full-attention layers that DUET can drop tokens from."""
    if not isinstance(decoder, LlamaModel):
        raise TypeError(
            f"duet.apply({host}): its language model is a {type(decoder).__name__}, not a LlamaModel. DUET's T2V "
            "stage supports Llama-family decoders (LLaVA-1.5, Video-LLaVA); use a V2V-only preset (visionzip:*) "
            "or add an adapter for this decoder."
        )
    config = decoder.config
    layer_types = getattr(config, "layer_types", None) or ["full_attention"] * config.num_hidden_layers
    other = sorted({kind for kind in layer_types if kind != "full_attention"})
    if other or getattr(config, "sliding_window", None):
        raise ValueError(
            f"duet.apply({host}): the decoder has {other or 'sliding-window'} attention layers; T2V drops assume "
            "every layer attends to the full cached sequence. Use a model with full attention only."
        )
    for index, layer in enumerate(decoder.layers):
        attention = getattr(layer, "self_attn", None)
        missing = [
            name
            for name, owner in (("input_layernorm", layer), ("q_proj", attention), ("k_proj", attention))
            if owner is None or not hasattr(owner, name)
        ]
        if missing:
            raise ValueError(
                f"duet.apply({host}): decoder layer {index} has no {', '.join(missing)}; T2V scoring recomputes "
                "queries and keys from the next layer's input norm and q/k projections."
            )


class LlamaDecoderAdapter:
    """The `duet.adapter.DecoderAdapter` of a `LlamaModel`."""

    def __init__(self, decoder: LlamaModel) -> None:
        self.decoder = decoder

    @property
    def config(self):
        return self.decoder.config

    @property
    def layers(self) -> Sequence[torch.nn.Module]:
        return self.decoder.layers[: self.decoder.config.num_hidden_layers]

    def rotary(self, hidden: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder.rotary_emb(hidden, position_ids=position_ids)

    def norm(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder.norm(hidden)

    def scoring(self, layer_index: int) -> ScoringParts:
        layer = self.decoder.layers[layer_index]
        attention = layer.self_attn
        config = self.decoder.config
        return ScoringParts(
            input_norm=layer.input_layernorm,
            q_proj=attention.q_proj,
            k_proj=attention.k_proj,
            apply_rotary=apply_llama_rotary,
            num_heads=config.num_attention_heads,
            num_kv_heads=config.num_key_value_heads,
            head_dim=attention.head_dim,
            scaling=attention.scaling,
        )
