"""Analytic prefill FLOPs of one Llama-style decoder layer, and the named model shapes we account for.

These are the textbook counts used by FastV / PyramidDrop to report "FLOPs reduction", so our predicted
speedups are comparable with theirs. They are predictions, not measurements: kernels, memory traffic and
the vision tower are not in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ModelShape:
    """The decoder dimensions that determine per-token cost (GQA via ``num_kv_heads``)."""

    num_layers: int
    hidden: int
    intermediate: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


_VICUNA_7B = ModelShape(num_layers=32, hidden=4096, intermediate=11008, num_heads=32, num_kv_heads=32, head_dim=128)

MODEL_SHAPES: MappingProxyType[str, ModelShape] = MappingProxyType(
    {
        "llava-1.5-7b": _VICUNA_7B,
        "llava-1.5-13b": ModelShape(
            num_layers=40, hidden=5120, intermediate=13824, num_heads=40, num_kv_heads=40, head_dim=128
        ),
        "video-llava-7b": _VICUNA_7B,
    }
)


def get_shape(name: str) -> ModelShape:
    try:
        return MODEL_SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown model shape {name!r}. Fix: use one of {', '.join(MODEL_SHAPES)}.") from None


def layer_prefill_flops(shape: ModelShape, n: int) -> int:
    """FLOPs (multiply-add = 2) of one decoder layer over a prefill of ``n`` tokens.

    - q/k/v/o projections: ``2·n·hidden·(2·heads·hd + 2·kv_heads·hd)``;
    - attention: ``2·2·n²·heads·hd`` (QKᵀ and AV). This counts the FULL n×n score matrix, as FastV and
      PyramidDrop do, although a causal kernel only needs about half of it;
    - SwiGLU MLP (gate, up, down): ``2·3·n·hidden·intermediate``.
    Norms, rotary, softmax and residual adds are ignored (they are O(n·hidden) and small).
    """
    proj = 2 * n * shape.hidden * (2 * shape.num_heads * shape.head_dim + 2 * shape.num_kv_heads * shape.head_dim)
    attn = 2 * 2 * n * n * shape.num_heads * shape.head_dim
    mlp = 2 * 3 * n * shape.hidden * shape.intermediate
    return proj + attn + mlp
