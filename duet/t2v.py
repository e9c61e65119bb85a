"""Stage B (T2V): text-guided rank-and-drop of visual tokens inside the LLM (paper.md §2.2).

The host calls these after each stage layer ℓ: it recomputes, on the side, q/k of the next layer for the
query rows only (so the main layers keep flash/SDPA attention), scores visual positions with
`score_visual_tokens`, picks survivors with `select_kept_tokens`, and gathers every per-position tensor with
the index from `kept_index`. All functions are batched and handle per-sample visual counts and padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch


def score_visual_tokens(
    queries: torch.Tensor,
    query_positions: torch.Tensor,
    query_valid: torch.Tensor,
    keys: torch.Tensor,
    key_valid: torch.Tensor,
    scaling: float,
) -> torch.Tensor:
    """Attention each position receives from the query tokens, averaged over heads and then over queries.

    ``queries`` (B, Hq, Q, d) and ``keys`` (B, Hkv, L, d) are rotary-embedded; ``query_positions`` (B, Q) are
    the queries' indices in the key sequence; ``query_valid`` (B, Q) / ``key_valid`` (B, L) mask padding.
    Each head's row is an fp32 softmax of ``q·kᵀ·scaling`` over keys that are valid and causal (key index ≤
    query position), as the decoder layer itself would compute it. KV heads are shared by consecutive query
    heads (GQA, transformers' ``repeat_kv`` layout). Returns (B, L) float32; a sample with no valid query
    (e.g. an empty salient set) gets all zeros rather than NaN, so the caller's top-k stays well defined.
    """
    batch, q_heads, num_queries, head_dim = queries.shape
    kv_heads, length = keys.shape[1], keys.shape[2]
    if q_heads % kv_heads:
        raise ValueError(f"score_visual_tokens: {q_heads} query heads is not a multiple of {kv_heads} KV heads.")
    grouped = queries.float().reshape(batch, kv_heads, q_heads // kv_heads, num_queries, head_dim)
    logits = torch.einsum("bhgqd,bhkd->bhgqk", grouped, keys.float()) * scaling  # (B, Hkv, G, Q, L)

    key_index = torch.arange(length, device=keys.device)
    allowed = key_valid[:, None, :] & (key_index[None, None, :] <= query_positions[:, :, None])  # (B, Q, L)
    allowed = allowed & query_valid[:, :, None]
    mask = allowed[:, None, None]
    logits = logits.masked_fill(~mask, torch.finfo(torch.float32).min)
    # A fully masked row becomes uniform after softmax; multiplying by the mask zeroes it instead.
    probs = logits.softmax(dim=-1) * mask
    per_query = probs.mean(dim=(1, 2))  # (B, Q, L)
    n_queries = query_valid.sum(dim=1, keepdim=True).clamp(min=1).float()
    return per_query.sum(dim=1) / n_queries


def keep_counts(n0: Sequence[int], ratio: float) -> list[int]:
    """Per-sample survivors: exactly ``int(n * ratio)`` with Python float semantics (int(307*0.5) == 153).

    The ratio is relative to N0, the post-V2V count, never to the current count (paper.md §2.2).
    """
    return [int(n * ratio) for n in n0]


def select_kept_tokens(scores: torch.Tensor, visual_mask: torch.Tensor, keep: Sequence[int]) -> torch.Tensor:
    """Boolean (B, L) keep mask: all non-visual positions, plus each sample's ``keep[b]`` best visual ones.

    Ranking is a stable descending sort over the visual positions only, so ties go to the lower index and
    the result is deterministic across devices.
    """
    batch = scores.shape[0]
    if len(keep) != batch:
        raise ValueError(f"select_kept_tokens: got {len(keep)} keep counts for a batch of {batch}.")
    visual_counts = visual_mask.sum(dim=1).tolist()
    for b, (k, available) in enumerate(zip(keep, visual_counts, strict=True)):
        if not 0 <= k <= available:
            raise ValueError(
                f"select_kept_tokens: sample {b} asks to keep {k} of its {available} visual tokens. Fix: the keep "
                "count must be in [0, number of visual positions] (keep counts come from keep_counts(N0, ratio))."
            )
    # Lexicographic order (visual first, then score descending, then index) from two stable sorts.
    by_score = torch.sort(scores, dim=1, descending=True, stable=True).indices
    visual_first = torch.sort(visual_mask.gather(1, by_score).to(torch.uint8), dim=1, descending=True, stable=True)
    order = by_score.gather(1, visual_first.indices)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
    )
    limit = torch.tensor(list(keep), dtype=torch.long, device=scores.device)[:, None]
    return ~visual_mask | (rank < limit)


def kept_index(
    keep_mask: torch.Tensor, valid_mask: torch.Tensor, padding_side: Literal["left", "right"]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pack each sample's kept, valid positions (original order) into (B, L') and re-pad to the batch max.

    Returns ``index`` (padding slots hold 0) and ``new_valid`` (False at padding). The host gathers hidden
    states, position ids, masks and the label index with this one index so they can never drift apart;
    ``padding_side`` matches the tokenizer's so left-padded generation batches stay left-padded.
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"kept_index: padding_side must be 'left' or 'right', got {padding_side!r}.")
    selected = keep_mask & valid_mask
    counts = selected.sum(dim=1, keepdim=True)
    width = int(counts.max().item()) if selected.shape[0] else 0
    columns = torch.arange(width, device=selected.device)[None, :]
    if padding_side == "right":
        # Stable sort on "not selected" puts the selected positions first, in their original order.
        order = torch.sort((~selected).to(torch.uint8), dim=1, stable=True).indices[:, :width]
        new_valid = columns < counts
    else:
        order = torch.sort(selected.to(torch.uint8), dim=1, stable=True).indices
        order = order[:, order.shape[1] - width :]
        new_valid = columns >= width - counts
    return torch.where(new_valid, order, torch.zeros_like(order)), new_valid
