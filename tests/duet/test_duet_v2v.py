"""Stage A (V2V) against hand-computed values and a naive per-sample reference written from paper.md §2.1."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from duet.v2v import cls_attention_stats, v2v_compress


def naive_v2v(
    hidden: torch.Tensor,
    scores: torch.Tensor,
    keys: torch.Tensor,
    dominant: int,
    contextual: int,
    width: int,
    mode: str,
) -> tuple[torch.Tensor, list[int], list[int]]:
    """One sample, plain Python: returns (tokens, source_index, assignment)."""
    patches = scores.shape[0]
    ranked = sorted(range(1, patches + 1), key=lambda t: (-scores[t - 1].item(), t))
    dominant_tokens = [0, *sorted(ranked[: dominant - 1])]
    rest = ranked[dominant - 1 :]
    assignment = [-1] * (patches + 1)
    for slot, token in enumerate(dominant_tokens):
        assignment[token] = slot
    rows = [hidden[t].double() for t in dominant_tokens]
    if contextual == 0:
        return torch.stack(rows), dominant_tokens, assignment
    pool = rest[: min(width * contextual, len(rest))] if mode == "duet" else sorted(rest)
    step = max(1, len(pool) // contextual)
    anchors = [pool[i] for i in range(0, len(pool), step)][:contextual]
    groups: dict[int, list[int]] = {a: [] for a in anchors}

    def unit(token: int) -> list[float]:
        vector = keys[token].double().tolist()
        norm = max(math.sqrt(sum(v * v for v in vector)), 1e-12)
        return [v / norm for v in vector]

    for member in (t for t in pool if t not in anchors):
        sims = [sum(a * b for a, b in zip(unit(member), unit(anchor), strict=True)) for anchor in anchors]
        groups[anchors[sims.index(max(sims))]].append(member)
    for j, anchor in enumerate(anchors):
        members = groups[anchor]
        total = sum((hidden[m].double() for m in members), torch.zeros(hidden.shape[1], dtype=torch.float64))
        rows.append(hidden[anchor].double() + total / max(1, len(members)))
        for token in [anchor, *members]:
            assignment[token] = dominant + j
    return torch.stack(rows), dominant_tokens + anchors, assignment


def _hand_example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """8 patches; token t has hidden [t, 10t]. Scores rank tokens 2,4,6,7,3,8,1,5."""
    hidden = torch.tensor([[t, 10.0 * t] for t in range(9)]).unsqueeze(0)
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.05, 0.5, 0.4, 0.2]])
    keys = torch.tensor(
        [[1, 1], [0, 1], [1, 1], [0, 1], [1, 1], [1, 0.1], [1, 0], [0.1, 1], [1, 0.2]], dtype=torch.float32
    ).unsqueeze(0)
    return hidden, scores, keys


def test_duet_mode_by_hand() -> None:
    # Dominant: CLS + tokens 2, 4. Pool (w·k_c = 4, by score): 6, 7, 3, 8; step 2 → anchors 6, 3; members 7, 8.
    # 7 is most like 3 and 8 most like 6; tokens 1 and 5 fall outside the pool and are discarded.
    result = v2v_compress(*_hand_example(), dominant=3, contextual=2, cluster_width=2, mode="duet")
    expected = torch.tensor([[[0.0, 0], [2, 20], [4, 40], [6 + 8, 60 + 80], [3 + 7, 30 + 70]]])
    torch.testing.assert_close(result.tokens, expected, rtol=0, atol=0)
    assert result.source_index.tolist() == [[0, 2, 4, 6, 3]]
    assert result.assignment.tolist() == [[0, -1, 1, 4, 2, -1, 3, 4, 3]]


def test_visionzip_mode_by_hand() -> None:
    # Remaining in raster order 1, 3, 5, 6, 7, 8; step 3 → targets 1, 6; 3 and 7 join 1, 5 and 8 join 6.
    result = v2v_compress(*_hand_example(), dominant=3, contextual=2, cluster_width=2, mode="visionzip")
    expected = torch.tensor([[[0.0, 0], [2, 20], [4, 40], [1 + 5, 10 + 50], [6 + 6.5, 60 + 65]]])
    torch.testing.assert_close(result.tokens, expected, rtol=0, atol=0)
    assert result.source_index.tolist() == [[0, 2, 4, 1, 6]]
    assert result.assignment.tolist() == [[0, 3, 1, 3, 2, 4, 4, 3, 4]]


def test_only_dominant_when_contextual_is_zero() -> None:
    result = v2v_compress(*_hand_example(), dominant=4, contextual=0, cluster_width=4)
    assert result.source_index.tolist() == [[0, 2, 4, 6]]
    assert result.assignment.tolist() == [[0, -1, 1, -1, 2, -1, 3, -1, -1]]
    assert result.tokens[0, :, 0].tolist() == [0, 2, 4, 6]


def test_ties_break_towards_lower_index() -> None:
    hidden = torch.arange(7.0).view(1, 7, 1)
    result = v2v_compress(hidden, torch.ones(1, 6), torch.ones(1, 7, 2), dominant=3, contextual=1, cluster_width=2)
    # Dominant: patches 1, 2; pool: 3, 4; anchor 3 takes member 4 → 3 + 4.
    assert result.source_index.tolist() == [[0, 1, 2, 3]]
    assert result.tokens.flatten().tolist() == [0, 1, 2, 7]


def test_width_one_has_no_members() -> None:
    result = v2v_compress(*_hand_example(), dominant=3, contextual=2, cluster_width=1)
    assert result.source_index.tolist() == [[0, 2, 4, 6, 7]]
    assert result.tokens[0, 3:].tolist() == [[6, 60], [7, 70]]


def test_bf16_and_zero_keys_stay_finite() -> None:
    hidden, scores, _ = _hand_example()
    result = v2v_compress(hidden.bfloat16(), scores, torch.zeros(1, 9, 2), dominant=2, contextual=3, cluster_width=2)
    assert result.tokens.dtype == torch.bfloat16
    assert torch.isfinite(result.tokens.float()).all()


@settings(max_examples=60, deadline=None)
@given(
    batch=st.integers(1, 3),
    patches=st.integers(1, 30),
    dim=st.integers(1, 5),
    data=st.data(),
    mode=st.sampled_from(["duet", "visionzip"]),
    seed=st.integers(0, 2**16),
)
def test_matches_naive_reference(batch: int, patches: int, dim: int, data: st.DataObject, mode: str, seed: int) -> None:
    dominant = data.draw(st.integers(1, patches + 1), label="dominant")
    contextual = data.draw(st.integers(0, patches - (dominant - 1)), label="contextual")
    width = data.draw(st.integers(1, 5), label="width")
    generator = torch.Generator().manual_seed(seed)
    hidden = torch.randn(batch, patches + 1, dim, generator=generator)
    scores = torch.randint(0, 4, (batch, patches), generator=generator).float()  # many ties on purpose
    keys = torch.randn(batch, patches + 1, 3, generator=generator)

    result = v2v_compress(hidden, scores, keys, dominant, contextual, width, mode)  # type: ignore[arg-type]
    assert result.tokens.shape == (batch, dominant + contextual, dim)
    assert not torch.isnan(result.tokens).any()
    for b in range(batch):
        tokens, source, assignment = naive_v2v(hidden[b], scores[b], keys[b], dominant, contextual, width, mode)
        assert result.source_index[b].tolist() == source
        assert result.assignment[b].tolist() == assignment
        torch.testing.assert_close(result.tokens[b].double(), tokens, rtol=1e-5, atol=1e-5)


def test_cls_attention_stats_matches_eager_attention() -> None:
    torch.manual_seed(0)
    batch, tokens, dim, heads = 2, 6, 8, 2
    head_dim = dim // heads
    q_proj, k_proj = torch.nn.Linear(dim, dim), torch.nn.Linear(dim, dim)
    normed = torch.randn(batch, tokens, dim)
    scale = head_dim**-0.5

    cls_to_patch, mean_keys = cls_attention_stats(normed, q_proj, k_proj, heads, scale)

    with torch.no_grad():
        q, k = q_proj(normed), k_proj(normed)
    expected_scores = torch.zeros(batch, tokens - 1)
    expected_keys = torch.zeros(batch, tokens, head_dim)
    for b in range(batch):
        for h in range(heads):
            qh = q[b, :, h * head_dim : (h + 1) * head_dim]
            kh = k[b, :, h * head_dim : (h + 1) * head_dim]
            attention = torch.softmax(qh @ kh.T * scale, dim=-1)  # full eager (N+1)×(N+1) map
            expected_scores[b] += attention[0, 1:]
            expected_keys[b] += kh / heads
    torch.testing.assert_close(cls_to_patch, expected_scores)
    torch.testing.assert_close(mean_keys, expected_keys)
    assert cls_to_patch.dtype == torch.float32


def test_gradients_reach_every_kept_and_merged_token() -> None:
    hidden, scores, keys = _hand_example()
    hidden.requires_grad_(True)
    v2v_compress(hidden, scores, keys, dominant=3, contextual=2, cluster_width=2).tokens.sum().backward()
    assert hidden.grad is not None
    # Kept/anchor tokens get weight 1, each merged member 1/n_t (one member each here), discarded tokens 0.
    assert hidden.grad[0, :, 0].tolist() == [1, 0, 1, 1, 1, 0, 1, 1, 1]
