"""T2V scoring's peak extra memory at LLaVA-1.5-7B's layer shape, measured, against the unchunked tensor size.

Scoring needs softmax rows over every allowed key, but only the result per position; `duet.t2v.score_visual_tokens`
processes the query rows in chunks sized to a memory budget, so its peak no longer grows with the number of queries.
"""

from __future__ import annotations

import torch

from bench.measure import peak_allocated_bytes
from duet.t2v import SCORE_CHUNK_ELEMENTS, score_visual_tokens

HEADS, HEAD_DIM, LENGTH, QUERIES = 32, 128, 2048, 500  # Vicuna-7B; a long training sequence; ~all instruction text


def scoring_memory_line(batch: int = 4) -> str:
    generator = torch.Generator().manual_seed(0)
    queries = torch.randn(batch, HEADS, QUERIES, HEAD_DIM, generator=generator)
    keys = torch.randn(batch, HEADS, LENGTH, HEAD_DIM, generator=generator)
    positions = torch.arange(LENGTH - QUERIES, LENGTH).expand(batch, -1)
    valid_q, valid_k = torch.ones(batch, QUERIES, dtype=torch.bool), torch.ones(batch, LENGTH, dtype=torch.bool)
    peak = peak_allocated_bytes(lambda: score_visual_tokens(queries, positions, valid_q, keys, valid_k, HEAD_DIM**-0.5), "cpu")
    full_tensor = batch * HEADS * QUERIES * LENGTH * 4
    return (
        f"T2V scoring at LLaVA-1.5-7B's layer shape ({HEADS} heads x {HEAD_DIM}, L={LENGTH}, Q={QUERIES}, B={batch}): "
        f"peak extra memory {peak / 2**20:.0f} MiB (query chunks sized to {SCORE_CHUNK_ELEMENTS * 4 / 2**20:.0f} MiB "
        f"of fp32 logits); one unchunked fp32 (B, H, Q, L) tensor would be {full_tensor / 2**20:.0f} MiB."
    )
