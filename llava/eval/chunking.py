"""LLaVA's multi-GPU split: `--num-chunks N --chunk-idx i` answers the i-th of N contiguous slices.

The scripts launch one process per GPU and `cat` the pieces in chunk order, so the merged answers keep the question
file's order; the slices must therefore be contiguous and cover every question exactly once.
"""

import math
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def split_list(items: Sequence[T], n: int) -> list[Sequence[T]]:
    """LLaVA's `split_list`: contiguous slices of `ceil(len / n)` items (so there may be fewer than `n`)."""
    if n < 1:
        raise ValueError(f"--num-chunks must be >= 1, got {n}")
    size = max(1, math.ceil(len(items) / n))
    return [items[i : i + size] for i in range(0, len(items), size)]


def get_chunk(items: Sequence[T], n: int, k: int) -> Sequence[T]:
    """The `k`-th of `n` chunks; empty when `k` is past the last non-empty slice (more GPUs than questions).

    LLaVA raises IndexError there, which kills one process of a multi-GPU run on a small question file.
    """
    if not 0 <= k < n:
        raise ValueError(f"--chunk-idx must be in [0, {n - 1}] for --num-chunks {n}, got {k}")
    chunks = split_list(items, n)
    return chunks[k] if k < len(chunks) else items[:0]
