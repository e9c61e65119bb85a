"""What every DUET host does around the engine: filter the forward's extra kwargs, compute the loss on targets.

Hosts forward transformers' per-call kwargs (attention options, `num_items_in_batch` for the loss) to the decoder
layers, as `LlamaModel.forward` does. A few are consumed by transformers' output decorators instead; under DUET's
engine they have no meaning, and per-layer hidden states or attention maps cannot be collected once positions are
dropped, so asking for them is an error rather than a silently empty result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_UNUSED_BY_LAYERS = ("return_dict", "use_cache")
_NOT_COLLECTED = ("output_attentions", "output_hidden_states")


def engine_layer_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The forward kwargs to pass on to decoder layers under the DUET engine."""
    asked = [name for name in _NOT_COLLECTED if kwargs.get(name)]
    if asked:
        raise ValueError(
            f"{', '.join(asked)}: per-layer outputs are not collected while DUET drops tokens inside the decoder. "
            "Fix: run with a V2V-only or `full` preset (duet.apply(model, 'full')) to inspect layers."
        )
    return {k: v for k, v in kwargs.items() if k not in _UNUSED_BY_LAYERS + _NOT_COLLECTED}


def causal_lm_loss(
    loss_function: Callable[..., torch.Tensor],
    logits: torch.Tensor,
    targets: torch.Tensor | None,
    vocab_size: int,
    kwargs: dict[str, Any],
) -> torch.Tensor | None:
    """transformers' causal-LM loss on already-shifted ``targets`` (the engine shifts before it drops positions)."""
    if targets is None:
        return None
    targets = targets[:, -logits.shape[1] :]
    extra = {k: v for k, v in kwargs.items() if k not in _UNUSED_BY_LAYERS + _NOT_COLLECTED}
    return loss_function(logits=logits, labels=None, vocab_size=vocab_size, shift_labels=targets, **extra)
