"""Stage B (T2V) scoring, keep counts, selection and re-packing against explicit references."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from duet.t2v import keep_counts, score_visual_tokens, select_kept_tokens
from duet.tokens import kept_index


def naive_scores(
    queries: torch.Tensor,
    positions: torch.Tensor,
    query_valid: torch.Tensor,
    keys: torch.Tensor,
    key_valid: torch.Tensor,
    scaling: float,
) -> torch.Tensor:
    """Explicit loops over samples, valid queries and heads; float64 softmax over allowed keys."""
    batch, q_heads, num_queries, _ = queries.shape
    kv_heads, length = keys.shape[1], keys.shape[2]
    out = torch.zeros(batch, length, dtype=torch.float64)
    for b in range(batch):
        used = [q for q in range(num_queries) if query_valid[b, q]]
        for q in used:
            allowed = [k for k in range(length) if key_valid[b, k] and k <= positions[b, q]]
            for h in range(q_heads):
                kv = h // (q_heads // kv_heads)
                logits = [float(queries[b, h, q].double() @ keys[b, kv, k].double()) * scaling for k in allowed]
                top = max(logits, default=0.0)
                weights = [math.exp(x - top) for x in logits]
                for k, w in zip(allowed, weights, strict=True):
                    out[b, k] += w / sum(weights) / q_heads / len(used)
    return out


def test_scores_by_hand() -> None:
    # Zero queries give uniform rows over the allowed keys. Query at position 1 sees keys {0, 1}; query at
    # position 4 sees {0, 1, 3, 4} (key 2 is padding); each key's score is the mean over the two rows.
    queries = torch.zeros(1, 1, 2, 2)
    keys = torch.randn(1, 1, 5, 2)
    scores = score_visual_tokens(
        queries,
        torch.tensor([[1, 4]]),
        torch.tensor([[True, True]]),
        keys,
        torch.tensor([[True, True, False, True, True]]),
        scaling=1.0,
    )
    expected = torch.tensor([[(1 / 2 + 1 / 4) / 2, (1 / 2 + 1 / 4) / 2, 0.0, 1 / 8, 1 / 8]])
    torch.testing.assert_close(scores, expected)
    assert scores.dtype == torch.float32


def test_no_valid_query_gives_zeros() -> None:
    scores = score_visual_tokens(
        torch.randn(2, 4, 3, 8),
        torch.tensor([[5, 6, 7], [0, 0, 0]]),
        torch.tensor([[False, False, False], [True, False, False]]),
        torch.randn(2, 2, 8, 8),
        torch.tensor([[True] * 8, [False] + [True] * 7]),  # sample 1's only query sees only a padded key
        scaling=8**-0.5,
    )
    assert torch.equal(scores, torch.zeros(2, 8))


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 3),
    kv_heads=st.integers(1, 2),
    group=st.integers(1, 3),
    num_queries=st.integers(0, 4),
    length=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_scores_match_per_head_loop(
    batch: int, kv_heads: int, group: int, num_queries: int, length: int, seed: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    queries = torch.randn(batch, kv_heads * group, num_queries, 4, generator=generator)
    keys = torch.randn(batch, kv_heads, length, 4, generator=generator)
    positions = torch.randint(0, length, (batch, num_queries), generator=generator)
    query_valid = torch.rand(batch, num_queries, generator=generator) < 0.7
    key_valid = torch.rand(batch, length, generator=generator) < 0.8

    scores = score_visual_tokens(queries, positions, query_valid, keys, key_valid, scaling=0.5)
    assert torch.isfinite(scores).all()
    torch.testing.assert_close(scores.double(), naive_scores(queries, positions, query_valid, keys, key_valid, 0.5))


@pytest.mark.parametrize("chunk_elements", [1, 40, 1 << 30])
def test_chunked_scores_equal_one_pass(chunk_elements: int) -> None:
    """The query chunk size (from the memory budget) changes only how rows are grouped, never the scores."""
    generator = torch.Generator().manual_seed(7)
    queries = torch.randn(2, 4, 9, 8, generator=generator)
    keys = torch.randn(2, 2, 13, 8, generator=generator)
    positions = torch.randint(0, 13, (2, 9), generator=generator)
    query_valid = torch.rand(2, 9, generator=generator) < 0.8
    key_valid = torch.rand(2, 13, generator=generator) < 0.9
    expected = naive_scores(queries, positions, query_valid, keys, key_valid, 0.3)
    scores = score_visual_tokens(queries, positions, query_valid, keys, key_valid, 0.3, chunk_elements=chunk_elements)
    torch.testing.assert_close(scores.double(), expected)


def test_scores_under_bf16_autocast_are_fp32_and_finite() -> None:
    """Autocast must not turn the fp32 softmax into bf16 (its masking value overflowed bf16 before)."""
    generator = torch.Generator().manual_seed(3)
    queries, keys = torch.randn(1, 2, 3, 4, generator=generator), torch.randn(1, 2, 6, 4, generator=generator)
    args = (queries, torch.tensor([[2, 4, 5]]), torch.ones(1, 3, dtype=torch.bool), keys, torch.ones(1, 6, dtype=torch.bool))
    plain = score_visual_tokens(*args, scaling=0.5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = score_visual_tokens(*args, scaling=0.5)
    assert under_autocast.dtype == torch.float32
    assert torch.equal(under_autocast, plain)


def test_keep_counts_use_python_float_semantics() -> None:
    assert keep_counts([307, 202, 102], 0.5) == [153, 101, 51]
    assert keep_counts([100, 576], 0.29) == [28, 167]  # 100 * 0.29 == 28.999999999999996
    assert keep_counts([307], 0.0) == [0]


def naive_select(scores: torch.Tensor, visual: torch.Tensor, keep: list[int]) -> list[list[bool]]:
    rows = []
    for b in range(scores.shape[0]):
        candidates = [i for i in range(scores.shape[1]) if visual[b, i]]
        chosen = set(sorted(candidates, key=lambda i: (-scores[b, i].item(), i))[: keep[b]])
        rows.append([not bool(visual[b, i]) or i in chosen for i in range(scores.shape[1])])
    return rows


def test_select_by_hand() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.3, 0.3, 0.2, 0.8]])
    visual = torch.tensor([[False, True, True, True, True, False]])
    # Visual 1..4 score 0.1, 0.3, 0.3, 0.2: keep 2 → the tied 2 and 3; non-visual 0 and 5 always stay.
    assert select_kept_tokens(scores, visual, [2], [4]).tolist() == [[True, False, True, True, False, True]]
    assert select_kept_tokens(scores, visual, [1], [4]).tolist() == [[True, False, True, False, False, True]]


def test_select_rejects_impossible_keep() -> None:
    with pytest.raises(ValueError, match="sample 0 asks to keep 3 of its 2 visual tokens"):
        select_kept_tokens(torch.zeros(1, 3), torch.tensor([[True, True, False]]), [3], [2])


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 4),
    length=st.integers(1, 20),
    ratio=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_selection_properties(batch: int, length: int, ratio: float, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 3, (batch, length), generator=generator).float()  # ties on purpose
    visual = torch.rand(batch, length, generator=generator) < 0.6
    n0 = visual.sum(dim=1).tolist()
    keep = keep_counts(n0, ratio)

    mask = select_kept_tokens(scores, visual, keep, n0)
    assert mask.tolist() == naive_select(scores, visual, keep)
    assert (mask & visual).sum(dim=1).tolist() == [int(n * ratio) for n in n0]
    index, new_valid = kept_index(mask, torch.ones_like(mask), "right", int(mask.sum(dim=1).max()))
    for b in range(batch):
        kept = index[b][new_valid[b]].tolist()
        assert kept == sorted(set(kept))


def naive_kept_index(keep: torch.Tensor, valid: torch.Tensor, side: str) -> tuple[list[list[int]], list[list[bool]]]:
    rows = [[i for i in range(keep.shape[1]) if keep[b, i] and valid[b, i]] for b in range(keep.shape[0])]
    width = max(map(len, rows), default=0)
    index, new_valid = [], []
    for row in rows:
        pad = width - len(row)
        index.append(row + [0] * pad if side == "right" else [0] * pad + row)
        new_valid.append([True] * len(row) + [False] * pad if side == "right" else [False] * pad + [True] * len(row))
    return index, new_valid


def test_kept_index_by_hand() -> None:
    keep = torch.tensor([[True, False, True, True], [True, True, False, True]])
    valid = torch.tensor([[True, True, True, True], [False, True, True, True]])  # sample 1 is left-padded
    index, new_valid = kept_index(keep, valid, "right", 3)
    assert index.tolist() == [[0, 2, 3], [1, 3, 0]]
    assert new_valid.tolist() == [[True, True, True], [True, True, False]]
    index, new_valid = kept_index(keep, valid, "left", 3)
    assert index.tolist() == [[0, 2, 3], [0, 1, 3]]
    assert new_valid.tolist() == [[True, True, True], [False, True, True]]


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 4),
    length=st.integers(0, 12),
    side=st.sampled_from(["left", "right"]),
    seed=st.integers(0, 2**16),
)
def test_kept_index_matches_reference(batch: int, length: int, side: str, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    keep = torch.rand(batch, length, generator=generator) < 0.5
    valid = torch.rand(batch, length, generator=generator) < 0.8
    width = int((keep & valid).sum(dim=1).max()) if batch else 0
    index, new_valid = kept_index(keep, valid, side, width)  # type: ignore[arg-type]
    expected_index, expected_valid = naive_kept_index(keep, valid, side)
    assert index.tolist() == expected_index
    assert new_valid.tolist() == expected_valid
