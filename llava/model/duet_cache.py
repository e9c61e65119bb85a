"""The KV cache of a T2V-pruned prefill.

After DUET drops visual tokens following a stage layer, every later layer caches fewer positions than layer 0. A
decode step therefore needs, per stage, the 2-D mask of the positions that stage cached (padding included) and — for
`position_ids="compact"` — how many positions each sample dropped before that stage, so that the new token's rotary
position continues the compacted prefill positions. The prefill writes both here; decode steps only read them.
"""

from dataclasses import dataclass, field

import torch
from transformers import DynamicCache


@dataclass
class PrunedPrefill:
    """What one stage (a run of decoder layers between two drops) cached at prefill."""

    first_layer: int
    valid_mask: torch.Tensor
    dropped_before: torch.Tensor


@dataclass
class PrefillRecord:
    """All stages of a pruned prefill, plus the unpruned prefill length (layer 0's cache length)."""

    prefill_length: int
    stages: list[PrunedPrefill] = field(default_factory=list)


class DuetCache(DynamicCache):
    """A `DynamicCache` that remembers how its prefill was pruned."""

    def __init__(self, config, prefill_length: int) -> None:
        super().__init__(config=config)
        self.duet_prefill = PrefillRecord(prefill_length=prefill_length)

    def stage_mask(self, stage: int, attention_mask: torch.Tensor | None, query_length: int) -> torch.Tensor:
        """The 2-D mask over this stage's cached positions plus the `query_length` new ones.

        Columns after the prefill come from the caller's running `attention_mask` (what `generate` extends by one per
        step), so padding introduced after the prefill is honoured too.
        """
        record = self.duet_prefill.stages[stage]
        if attention_mask is None:
            decoded = self.get_seq_length() + query_length - self.duet_prefill.prefill_length
            tail = record.valid_mask.new_ones(record.valid_mask.shape[0], decoded)
        else:
            tail = attention_mask[:, self.duet_prefill.prefill_length :].bool()
        return torch.cat([record.valid_mask, tail], dim=1)
