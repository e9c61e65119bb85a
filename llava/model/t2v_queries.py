"""Which positions act as T2V queries (DUET stage B), in embedding coordinates.

Modes (`DuetConfig.query`):
- `salient`: the positions the caller marked in `t2v_query_mask` (question words, content words, `? ! :`, and the
  last prompt token; built from the question text by `llava.duet_queries`);
- `instruction`: every non-answer text position after the first visual token — what the authors' released scripts
  actually ran, at inference (all text after the image) and in training (all label −100 text);
- `last`: only the last prompt token (PyramidDrop).

Any sample whose set comes out empty (e.g. the `plain` pretraining template, where all text after the image is the
caption target) falls back to its last prompt token, so scores are always an average over at least one query and
never NaN.
"""

import torch

from llava.constants import IGNORE_INDEX

QUERY_MODES = ("salient", "instruction", "last")


def last_prompt_positions(valid: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """Per sample: the position just before the first supervised token, or the last valid position."""
    length = valid.shape[1]
    positions = torch.arange(length, device=valid.device).expand_as(valid)
    last_valid = torch.where(valid, positions, -1).amax(dim=1)
    if labels is None:
        return last_valid
    targets = (labels != IGNORE_INDEX) & valid
    first_target = torch.where(targets, positions, length).amin(dim=1)
    return torch.where(targets.any(dim=1), first_target - 1, last_valid).clamp(min=0)


def resolve_t2v_queries(
    mode: str,
    visual: torch.Tensor,
    valid: torch.Tensor,
    labels: torch.Tensor | None,
    marked: torch.Tensor | None,
) -> torch.Tensor:
    """The (B, L) query mask for `mode`, with the last-prompt-token fallback applied."""
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
            queries &= labels == IGNORE_INDEX
    elif mode == "last":
        queries = torch.zeros_like(visual)
    else:
        raise ValueError(f"Unknown DUET query mode {mode!r}; use one of {QUERY_MODES}.")
    fallback = ~queries.any(dim=1)
    if bool(fallback.any()):
        last = last_prompt_positions(valid, labels)
        rows = fallback.nonzero().flatten()
        queries[rows, last[rows]] = True
    return queries
