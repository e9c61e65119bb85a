"""Training targets under token dropping: shift to next-token targets *before* any position is removed.

A causal LM trains position i to predict the token at i + 1. If positions are dropped first and the labels shifted
afterwards, a kept position inherits the target of whatever now follows it: with the `plain` pretraining template and
a stage that drops every visual token, BOS would learn to predict the caption's first token without seeing the
image. Shifting first means a kept position keeps exactly the target it had, and the target of a dropped position
is dropped with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100
"""Label of positions that carry no loss (the value `CrossEntropyLoss` and LLaVA use)."""


def next_token_targets(labels: torch.Tensor) -> torch.Tensor:
    """``targets[:, i] = labels[:, i + 1]``; the last position has no target. Equals the shift inside HF's loss."""
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)
