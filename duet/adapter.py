"""What a host model implements so that the engine can run DUET on it (docs/design.md, "The adapter").

Two small surfaces, both plain data or callables, so `duet` never imports a model family:

- **V2V** (`SelectLayer`): the output of the vision tower's select layer for a batch of images or frames, with CLS
  at index 0, and that layer's importance statistics — the CLS→patch attention summed over heads and the
  head-averaged keys. `duet.v2v.cls_attention_stats` computes both from the layer's normed input and its q/k
  projections (one query row, so the tower keeps its fast attention kernel).
- **T2V** (`DecoderAdapter`): the decoder layers, the rotary embedding, the final norm and the text config (for
  transformers' `create_causal_mask` and `DynamicCache`), and, per layer, the `ScoringParts` with which the engine
  recomputes the next layer's queries and keys on the side.

Decoder layers follow transformers 5's calling convention: ``layer(hidden, attention_mask=..., position_embeddings=
(cos, sin), position_ids=..., cache=..., use_cache=...)`` returns the new hidden states.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class SelectLayer:
    """A vision tower's select layer, for N images or frames: what V2V ranks and merges.

    ``output`` (N, 1+P, D): the layer's output hidden states, CLS first. ``cls_attention`` (N, P) float32: the
    attention CLS pays each patch, summed over heads. ``mean_keys`` (N, 1+P, dk): the layer's keys averaged over
    heads (the cosine metric that assigns merged tokens to anchors).
    """

    output: torch.Tensor
    cls_attention: torch.Tensor
    mean_keys: torch.Tensor


@dataclass(frozen=True)
class ScoringParts:
    """The pieces of one decoder layer that T2V scoring recomputes: its input norm, q/k projections and rotary.

    ``apply_rotary(x, cos, sin)`` rotates ``x`` (B, heads, T, head_dim) with per-position ``cos``/``sin``
    (B, T, head_dim), exactly as the layer's attention does.
    """

    input_norm: Callable[[torch.Tensor], torch.Tensor]
    q_proj: torch.nn.Module
    k_proj: torch.nn.Module
    apply_rotary: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    num_heads: int
    num_kv_heads: int
    head_dim: int
    scaling: float


@runtime_checkable
class DecoderAdapter(Protocol):
    """How the engine drives a host's decoder stack."""

    @property
    def config(self) -> Any:
        """The decoder's (text) config: ``_attn_implementation``, layer count; used by `create_causal_mask`."""
        ...

    @property
    def layers(self) -> Sequence[torch.nn.Module]:
        """The decoder layers, in order."""
        ...

    def rotary(self, hidden: torch.Tensor, position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin) for ``position_ids`` (B, T), in ``hidden``'s dtype and device."""
        ...

    def norm(self, hidden: torch.Tensor) -> torch.Tensor:
        """The final norm after the last layer."""
        ...

    def scoring(self, layer_index: int) -> ScoringParts:
        """The scoring pieces of ``layers[layer_index]`` (0-indexed)."""
        ...
