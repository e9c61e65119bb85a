"""V2V's view of a transformers `CLIPVisionModel`: its select layer's output and importance statistics.

LLaVA reads the hidden states of one CLIP layer (`mm_vision_select_layer`, −2 in LLaVA-1.5). DUET's V2V ranks that
layer's patches by the attention CLS pays them and merges them by the similarity of that layer's keys. Both are
recomputed here on the side from the layer's input (one query row), so the tower itself runs its fast attention
kernel (SDPA / flash) and never materialises attention maps. Every host with a CLIP tower uses this: our LLaVA-1.5
(`CLIPVisionTower`) and transformers' `LlavaForConditionalGeneration` / `VideoLlavaForConditionalGeneration`.
"""

from __future__ import annotations

import torch
from transformers import CLIPVisionModel

from duet.adapter import SelectLayer
from duet.v2v import cls_attention_stats


def hidden_states_entry(num_layers: int, select_layer: int) -> int:
    """Index into `hidden_states` (entry 0 = the embeddings, entry i = layer i's output) of ``select_layer``."""
    entry = select_layer if select_layer >= 0 else num_layers + 1 + select_layer
    if not 1 <= entry <= num_layers:
        raise ValueError(f"mm_vision_select_layer={select_layer} is outside a {num_layers}-layer vision tower.")
    return entry


def run_tower(clip: CLIPVisionModel, pixels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """All hidden states of ``clip`` for ``pixels``; without autograd when the tower is frozen (LLaVA's default)."""
    frozen = not any(p.requires_grad for p in clip.parameters())
    with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
        out = clip(pixels.to(device=clip.device, dtype=clip.dtype), output_hidden_states=True)
    return out.hidden_states


def clip_select_layer(hidden_states: tuple[torch.Tensor, ...], clip: CLIPVisionModel, select_layer: int) -> SelectLayer:
    """The `SelectLayer` of ``clip`` from its ``hidden_states`` (as `run_tower` returns them)."""
    entry = hidden_states_entry(len(hidden_states) - 1, select_layer)
    layer = clip.encoder.layers[entry - 1]
    attention = layer.self_attn
    with torch.no_grad():
        cls_attention, mean_keys = cls_attention_stats(
            layer.layer_norm1(hidden_states[entry - 1]),
            attention.q_proj,
            attention.k_proj,
            num_heads=attention.num_heads,
            scale=attention.scale,
        )
    return SelectLayer(output=hidden_states[entry], cls_attention=cls_attention, mean_keys=mean_keys)
