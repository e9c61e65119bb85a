"""Stage B (T2V): text-guided rank-and-drop of visual tokens inside the LLM (paper.md §2.2).

After each stage layer ℓ the engine recomputes, on the side, the next layer's queries (query rows only) and keys,
scores every position by the attention the queries pay it (`score_visual_tokens`), and keeps ``int(N0·r)`` visual
positions per sample (`select_kept_tokens`). Scoring is exact fp32 softmax over all allowed keys, as the decoder
layer would compute it, but never materialises the full (B, H, Q, L) probability tensor: queries are processed in
chunks whose size follows a memory budget, and the result is accumulated per position.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from duet.adapter import ScoringParts

SCORE_CHUNK_ELEMENTS = 1 << 24
"""Upper bound on the fp32 logits held at once while scoring (64 MiB): the query chunk is sized to fit it."""


def _query_chunk(batch: int, heads: int, length: int, num_queries: int, budget: int) -> int:
    return max(1, min(num_queries, budget // max(1, batch * heads * length)))


def score_visual_tokens(
    queries: torch.Tensor,
    query_positions: torch.Tensor,
    query_valid: torch.Tensor,
    keys: torch.Tensor,
    key_valid: torch.Tensor,
    scaling: float,
    chunk_elements: int = SCORE_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """Attention each position receives from the query tokens, averaged over heads and then over queries.

    ``queries`` (B, Hq, Q, d) and ``keys`` (B, Hkv, L, d) are rotary-embedded; ``query_positions`` (B, Q) are
    the queries' indices in the key sequence; ``query_valid`` (B, Q) / ``key_valid`` (B, L) mask padding. Each
    head's row is an fp32 softmax of ``q·kᵀ·scaling`` over keys that are valid and causal (key index ≤ query
    position). KV heads are shared by consecutive query heads (GQA, transformers' ``repeat_kv`` layout). Returns
    (B, L) float32; a sample with no valid query gets all zeros rather than NaN. Peak extra memory is two
    ``B·Hq·Q_chunk·L`` fp32 tensors (logits, probabilities), ``Q_chunk`` chosen so that one stays under
    ``chunk_elements``.
    """
    batch, q_heads, num_queries, head_dim = queries.shape
    kv_heads, length = keys.shape[1], keys.shape[2]
    if q_heads % kv_heads:
        raise ValueError(f"score_visual_tokens: {q_heads} query heads is not a multiple of {kv_heads} KV heads.")
    group = q_heads // kv_heads
    with torch.autocast(device_type=keys.device.type, enabled=False):
        keys32 = keys.float()
        key_index = torch.arange(length, device=keys.device)
        total = torch.zeros(batch, length, dtype=torch.float32, device=keys.device)
        chunk = _query_chunk(batch, q_heads, length, num_queries, chunk_elements)
        for start in range(0, num_queries, chunk):
            rows = slice(start, start + chunk)
            grouped = queries[:, :, rows].float().reshape(batch, kv_heads, group, -1, head_dim)
            logits = torch.einsum("bhgqd,bhkd->bhgqk", grouped, keys32).mul_(scaling)  # (B, Hkv, G, Qc, L)
            allowed = key_valid[:, None, :] & (key_index[None, None, :] <= query_positions[:, rows, None])
            allowed = (allowed & query_valid[:, rows, None])[:, None, None]  # (B, 1, 1, Qc, L)
            # Masked keys get exp(min - max) = 0 exactly; a row with no allowed key (an invalid query) would come
            # out uniform, so its per-query result is zeroed instead. In place: the logits are this chunk's own.
            probs = logits.masked_fill_(~allowed, torch.finfo(torch.float32).min).softmax(dim=-1)
            per_query = probs.mean(dim=(1, 2)) * allowed.any(dim=-1)[:, 0, 0, :, None]
            total += per_query.sum(dim=1)
            del logits, probs  # before the next chunk's logits exist, so at most two chunk tensors are alive
        n_queries = query_valid.sum(dim=1, keepdim=True).clamp(min=1).float()
        return total / n_queries


@torch.no_grad()
def score_with_layer(
    parts: ScoringParts,
    hidden: torch.Tensor,
    valid: torch.Tensor,
    queries: torch.Tensor,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
    query_width: int,
    chunk_elements: int = SCORE_CHUNK_ELEMENTS,
) -> torch.Tensor:
    """(B, L) fp32 scores from the next layer's q/k: only the query rows are projected through ``q_proj``.

    ``query_width`` is a host-side upper bound on any sample's query count (the engine uses the longest text), so
    gathering the query rows needs no device→host sync. Everything runs outside autocast: under
    ``torch.autocast(bfloat16)`` the softmax and its masking stay fp32 instead of overflowing bf16. Under ZeRO-3
    this must run on every rank at every stage, even with no visual or query token, so it never short-circuits.
    """
    batch, length, _ = hidden.shape
    with torch.autocast(device_type=hidden.device.type, enabled=False):
        weight_dtype = parts.q_proj.weight.dtype
        normed = parts.input_norm(hidden.detach()).to(weight_dtype)
        order = torch.sort((~queries).to(torch.uint8), dim=1, stable=True).indices[:, :query_width]
        width = order.shape[1]
        query_valid = torch.arange(width, device=hidden.device)[None, :] < queries.sum(dim=1, keepdim=True)
        rows = normed.gather(1, order.unsqueeze(-1).expand(-1, -1, normed.shape[-1]))
        q = parts.q_proj(rows).view(batch, width, parts.num_heads, parts.head_dim).transpose(1, 2)
        k = parts.k_proj(normed).view(batch, length, parts.num_kv_heads, parts.head_dim).transpose(1, 2)
        cos, sin = position_embeddings
        row_cos = cos.gather(1, order.unsqueeze(-1).expand(-1, -1, cos.shape[-1]))
        row_sin = sin.gather(1, order.unsqueeze(-1).expand(-1, -1, sin.shape[-1]))
        q = parts.apply_rotary(q, row_cos, row_sin)
        k = parts.apply_rotary(k, cos, sin)
    return score_visual_tokens(q, order, query_valid, k, valid, parts.scaling, chunk_elements)


def keep_counts(n0: Sequence[int], ratio: float) -> list[int]:
    """Per-sample survivors: exactly ``int(n * ratio)`` with Python float semantics (int(307*0.5) == 153).

    The ratio is relative to N0, the post-V2V count, never to the current count (paper.md §2.2).
    """
    return [int(n * ratio) for n in n0]


def select_kept_tokens(
    scores: torch.Tensor, visual_mask: torch.Tensor, keep: Sequence[int], available: Sequence[int]
) -> torch.Tensor:
    """Boolean (B, L) keep mask: all non-visual positions, plus each sample's ``keep[b]`` best visual ones.

    ``available`` are the samples' visual counts (host integers, so checking costs no sync). Ranking is a stable
    descending sort over the visual positions only, so ties go to the lower index and the result is
    deterministic across devices.
    """
    batch = scores.shape[0]
    if len(keep) != batch or len(available) != batch:
        raise ValueError(f"select_kept_tokens: got {len(keep)} keep counts for a batch of {batch}.")
    for b, (k, n) in enumerate(zip(keep, available, strict=True)):
        if not 0 <= k <= n:
            raise ValueError(
                f"select_kept_tokens: sample {b} asks to keep {k} of its {n} visual tokens. Fix: the keep count "
                "must be in [0, number of visual positions] (keep counts come from keep_counts(N0, ratio))."
            )
    # Lexicographic order (visual first, then score descending, then index) from two stable sorts.
    by_score = torch.sort(scores, dim=1, descending=True, stable=True).indices
    visual_first = torch.sort(visual_mask.gather(1, by_score).to(torch.uint8), dim=1, descending=True, stable=True)
    order = by_score.gather(1, visual_first.indices)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
    )
    limit = torch.tensor(list(keep), dtype=torch.long).to(scores.device, non_blocking=True)[:, None]
    return ~visual_mask | (rank < limit)
