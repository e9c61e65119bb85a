"""The per-position tensors that must stay aligned while visual tokens are dropped, and the one host sync.

A T2V drop removes positions from the middle of each sample; everything indexed by position (hidden states, the
valid mask, position ids, the visual and query masks, next-token targets, the map back to the input) is gathered
with one index so they can never drift apart. The new batch width is a host integer: it is computed from the
per-sample counts in `BatchShape`, which a host reads from the device once per prefill (`read_batch_shape`), so
the drops themselves never wait on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch

PaddingSide = Literal["left", "right"]


@dataclass(frozen=True)
class BatchShape:
    """Host-side counts of a batch in sequence coordinates: valid and visual positions per sample, padding side."""

    valid: tuple[int, ...]
    visual: tuple[int, ...]
    padding_side: PaddingSide

    @property
    def width(self) -> int:
        """The batch's padded length."""
        return max(self.valid, default=0)

    @property
    def padded(self) -> bool:
        """Whether any sample is shorter than the batch (so masks must be materialised)."""
        return min(self.valid, default=0) != self.width

    def after_keeping(self, keep: Sequence[int]) -> BatchShape:
        """The shape once each sample keeps ``keep[b]`` of its visual positions (text positions all stay)."""
        return BatchShape(
            valid=tuple(v - n + k for v, n, k in zip(self.valid, self.visual, keep, strict=True)),
            visual=tuple(keep),
            padding_side=self.padding_side,
        )


def read_batch_shape(valid: torch.Tensor, visual: torch.Tensor, padding_side: PaddingSide | None = None) -> BatchShape:
    """`BatchShape` of (B, L) bool masks with one device→host copy (the prefill's only sync).

    Without ``padding_side`` it is read from ``valid`` in the same copy: left when some sample is padded at its
    start, else right.
    """
    batch = valid.shape[0]
    first_all_valid = valid[:, :1].all().reshape(1).long()
    counts = torch.cat([valid.sum(dim=1), (visual & valid).sum(dim=1), first_all_valid]).tolist()
    side = padding_side or ("right" if counts[-1] else "left")
    return BatchShape(valid=tuple(counts[:batch]), visual=tuple(counts[batch : 2 * batch]), padding_side=side)


@dataclass(frozen=True)
class TokenState:
    """Per-position tensors of a batch between two drops; all (B, L) except ``hidden`` (B, L, D).

    ``original_index`` maps each position back to the sequence the engine was given; ``targets`` are next-token
    targets (already shifted, so a kept position keeps exactly its own target), or None at inference.
    """

    hidden: torch.Tensor
    valid: torch.Tensor
    position_ids: torch.Tensor
    visual: torch.Tensor
    queries: torch.Tensor
    targets: torch.Tensor | None
    original_index: torch.Tensor
    shape: BatchShape

    def gather(self, index: torch.Tensor, new_valid: torch.Tensor, shape: BatchShape) -> TokenState:
        """Keep the positions in ``index`` (B, L'); padding slots, marked invalid by ``new_valid``, hold position 0."""

        def take(t: torch.Tensor) -> torch.Tensor:
            return t.gather(1, index) & new_valid if t.dtype == torch.bool else t.gather(1, index)

        hidden = self.hidden.gather(1, index.unsqueeze(-1).expand(-1, -1, self.hidden.shape[-1]))
        return TokenState(
            hidden=hidden,
            valid=new_valid,
            position_ids=take(self.position_ids),
            visual=take(self.visual),
            queries=take(self.queries),
            targets=take(self.targets) if self.targets is not None else None,
            original_index=take(self.original_index),
            shape=shape,
        )

    def with_hidden(self, hidden: torch.Tensor) -> TokenState:
        return replace(self, hidden=hidden)


def compact_positions(valid: torch.Tensor) -> torch.Tensor:
    """Positions 0..n−1 over the valid tokens of each sample (padding gets 0): the authors' re-indexing."""
    return (valid.long().cumsum(dim=1) - 1).clamp(min=0).masked_fill(~valid, 0)


def kept_index(
    keep_mask: torch.Tensor, valid_mask: torch.Tensor, padding_side: PaddingSide, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack each sample's kept, valid positions (original order) into (B, ``width``), re-padded on ``padding_side``.

    ``width`` must be the largest kept count (a host integer from `BatchShape`). Returns ``index`` (padding slots
    hold 0) and ``new_valid`` (False at padding). Left padding stays left so generation batches stay left-padded.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"kept_index: padding_side must be 'left' or 'right', got {padding_side!r}.")
    selected = keep_mask & valid_mask
    counts = selected.sum(dim=1, keepdim=True)
    columns = torch.arange(width, device=selected.device)[None, :]
    if padding_side == "right":
        # A stable sort on "not selected" puts the selected positions first, in their original order.
        order = torch.sort((~selected).to(torch.uint8), dim=1, stable=True).indices[:, :width]
        new_valid = columns < counts
    else:
        order = torch.sort(selected.to(torch.uint8), dim=1, stable=True).indices
        order = order[:, order.shape[1] - width :]
        new_valid = columns >= width - counts
    return torch.where(new_valid, order, torch.zeros_like(order)), new_valid
