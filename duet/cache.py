"""The KV cache of a DUET prefill: per-stage masks and position shifts that decode steps reuse.

After a drop, every later layer caches fewer positions than the caller's sequence has: the caller (``generate``)
keeps counting in *input coordinates* (its attention mask and position ids cover every prompt position), while
each stage — a run of decoder layers between two drops — caches its own subset. For each stage the cache keeps:

- ``mask`` (B, K): which of the stage's cached positions are real (not padding), extended by one column per decode
  step from the caller's attention mask — so a decode step appends to it instead of rebuilding it;
- ``shift`` (B,): subtracted from an input-coordinate position to get the stage's position (the positions the host
  packed away before the LLM, plus, with ``position_ids="compact"``, the positions dropped before this stage).

Beam search and friends reorder, select and repeat batch rows; those operations are applied to the stage records
too, so a beam keeps the masks of the prompt it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache


@dataclass
class StageRecord:
    """What one stage cached at prefill, kept current through decoding."""

    first_layer: int
    mask: torch.Tensor
    shift: torch.Tensor

    def take_rows(self, index: torch.Tensor) -> None:
        self.mask = self.mask.index_select(0, index.to(self.mask.device))
        self.shift = self.shift.index_select(0, index.to(self.shift.device))


class DuetCache(DynamicCache):
    """A `DynamicCache` that remembers how its prefill was pruned (see the module docstring)."""

    def __init__(self, config, input_length: int) -> None:
        super().__init__(config=config)
        self.input_length = input_length
        self.stages: list[StageRecord] = []

    def record(self, first_layer: int, mask: torch.Tensor, shift: torch.Tensor) -> None:
        """Remember a stage's cached-position mask and position shift (called by the engine at prefill)."""
        self.stages.append(StageRecord(first_layer, mask.clone(), shift.clone()))

    def extend(self, new_columns: torch.Tensor) -> None:
        """Append the decode step's (B, q) validity columns to every stage's mask."""
        for stage in self.stages:
            stage.mask = torch.cat([stage.mask, new_columns.to(stage.mask.device, torch.bool)], dim=1)

    # ------------------------------------------------------------------ batch operations used by `generate`
    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        super().reorder_cache(beam_idx)
        for stage in self.stages:
            stage.take_rows(beam_idx)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        super().batch_select_indices(indices)
        for stage in self.stages:
            stage.take_rows(indices)

    def batch_repeat_interleave(self, repeats: int) -> None:
        super().batch_repeat_interleave(repeats)
        for stage in self.stages:
            stage.mask = stage.mask.repeat_interleave(repeats, dim=0)
            stage.shift = stage.shift.repeat_interleave(repeats, dim=0)

    def crop(self, tokens_to_remove: int) -> None:
        """Remove the last ``-tokens_to_remove`` positions from every layer and every stage's mask."""
        super().crop(tokens_to_remove)  # transformers refuses positive (absolute-length) values itself
        if tokens_to_remove < 0:
            for stage in self.stages:
                stage.mask = stage.mask[:, :tokens_to_remove]
