"""Which positions act as T2V queries (stage B), in sequence coordinates.

Modes (`DuetConfig.query`):
- ``salient``: the positions the caller marked (question words, content words, ``? ! :``, and the last prompt token,
  built from the question text by the host, e.g. `llava.duet_queries`);
- ``instruction``: every non-answer text position after the first visual token — what the authors' released
  scripts actually ran, at inference (all text after the image) and in training (all label −100 text);
- ``last``: only the last prompt token (PyramidDrop).

A sample whose set comes out empty (the `plain` pretraining template, where all text after the image is the caption
target; a text-only sample) falls back to its last prompt position, so scores are an average over at least one
query and never NaN. Everything here is batched and sync-free.
"""

from __future__ import annotations

import torch

from duet.labels import IGNORE_INDEX

QUERY_MODES = ("salient", "instruction", "last")


def last_prompt_positions(valid: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Per sample: the position just before the first supervised token, else the last valid position."""
    length = valid.shape[1]
    positions = torch.arange(length, device=valid.device).expand_as(valid)
    last_valid = torch.where(valid, positions, -1).amax(dim=1)
    if labels is None:
        return last_valid.clamp(min=0)
    targets = (labels != IGNORE_INDEX) & valid
    first_target = torch.where(targets, positions, length).amin(dim=1)
    return torch.where(targets.any(dim=1), first_target - 1, last_valid).clamp(min=0)


def resolve_queries(
    mode: str,
    visual: torch.Tensor,
    valid: torch.Tensor,
    labels: torch.Tensor | None,
    marked: torch.Tensor | None,
) -> torch.Tensor:
    """The (B, L) query mask for ``mode`` (labels unshifted, aligned with positions), with the fallback applied."""
    text = valid & ~visual
    if mode == "salient":
        if marked is None:
            raise ValueError(
                "DUET query mode 'salient' needs `t2v_query_mask` (the salient question tokens); build it with "
                "`llava.duet_queries.build_t2v_query_mask`, or use query='instruction' / 'last'."
            )
        queries = marked.bool() & text
    elif mode == "instruction":
        positions = torch.arange(visual.shape[1], device=visual.device).expand_as(visual)
        first_visual = torch.where(visual, positions, visual.shape[1]).amin(dim=1, keepdim=True)
        queries = text & (positions > first_visual)
        if labels is not None:
            queries = queries & (labels == IGNORE_INDEX)
    elif mode == "last":
        queries = torch.zeros_like(visual)
    else:
        raise ValueError(f"Unknown DUET query mode {mode!r}; use one of {QUERY_MODES}.")
    last = last_prompt_positions(valid, labels)
    fallback = torch.zeros_like(queries).scatter_(1, last[:, None], True) & valid
    return torch.where(queries.any(dim=1, keepdim=True), queries, fallback)
