"""`DuetCache` keeps its per-stage masks and position shifts aligned with the KV rows under `generate`'s batch ops."""

import pytest
import torch
from transformers import LlamaConfig

from duet.cache import DuetCache

CONFIG = LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2)


def _cache() -> DuetCache:
    """Three rows whose KV entries, masks and shifts all encode the row number, so any misalignment shows."""
    cache = DuetCache(CONFIG, input_length=5)
    rows = torch.arange(3, dtype=torch.float32)[:, None, None, None]
    for layer, length in ((0, 5), (1, 3)):
        keys = rows.expand(3, 2, length, 4).clone()
        cache.update(keys, keys.clone(), layer)
    cache.record(0, torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 0, 1, 1, 1]], dtype=torch.bool), torch.zeros(3))
    cache.record(1, torch.tensor([[1, 1, 1], [0, 1, 1], [0, 0, 1]], dtype=torch.bool), torch.tensor([2, 1, 0]))
    return cache


def _rows(cache: DuetCache) -> list[int]:
    return cache.layers[1].keys[:, 0, 0, 0].long().tolist()


def test_reorder_moves_stage_records_with_their_rows() -> None:
    cache = _cache()
    cache.reorder_cache(torch.tensor([2, 0, 0]))
    assert _rows(cache) == [2, 0, 0]
    assert cache.stages[1].shift.tolist() == [0, 2, 2]
    assert cache.stages[1].mask.tolist() == [[False, False, True], [True, True, True], [True, True, True]]
    assert cache.stages[0].mask.sum(dim=1).tolist() == [3, 5, 5]


def test_select_and_repeat_interleave() -> None:
    cache = _cache()
    cache.batch_select_indices(torch.tensor([1, 2]))
    assert _rows(cache) == [1, 2] and cache.stages[1].shift.tolist() == [1, 0]
    cache.batch_repeat_interleave(2)
    assert _rows(cache) == [1, 1, 2, 2]
    assert cache.stages[1].shift.tolist() == [1, 1, 0, 0]
    assert cache.stages[0].mask.sum(dim=1).tolist() == [4, 4, 3, 3]


def test_extend_then_crop_keeps_masks_as_long_as_the_kv() -> None:
    cache = _cache()
    new = torch.ones(3, 1)
    for layer in (0, 1):
        cache.update(torch.zeros(3, 2, 1, 4), torch.zeros(3, 2, 1, 4), layer)
    cache.extend(new)
    assert [s.mask.shape[1] for s in cache.stages] == [6, 4] == [cache.get_seq_length(0), cache.get_seq_length(1)]
    cache.crop(-1)
    assert [s.mask.shape[1] for s in cache.stages] == [5, 3] == [cache.get_seq_length(0), cache.get_seq_length(1)]
    with pytest.raises(ValueError, match="positive value"):
        cache.crop(2)
