"""Splice image features into the token embeddings (LLaVA's `prepare_inputs_labels_for_multimodal`).

`input_ids` carry one sentinel (`IMAGE_TOKEN_INDEX`, −200) per image; each sentinel is replaced by that image's
features, whose count is not fixed (576 for LLaVA-1.5, `dominant + contextual` under DUET's V2V). Labels of visual
positions become `IGNORE_INDEX`. The per-position masks the decoder needs for T2V (which positions are visual, which
are queries) are carried along in the same coordinates.
"""

from dataclasses import dataclass

import torch
from torch import nn

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX


@dataclass
class SplicedInputs:
    """Everything the decoder needs, in embedding coordinates, padded to the batch's longest sample."""

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None
    visual_token_mask: torch.Tensor
    t2v_query_mask: torch.Tensor | None


def count_image_placeholders(input_ids: torch.Tensor) -> list[int]:
    """Placeholders per sample."""
    return (input_ids == IMAGE_TOKEN_INDEX).sum(dim=1).tolist()


def detect_padding_side(attention_mask: torch.Tensor, default: str) -> str:
    """Left when some sample is padded at its start, right when padded at its end, else `default`."""
    if attention_mask.shape[1] == 0:
        return default
    if not bool(attention_mask[:, 0].all()):
        return "left"
    if not bool(attention_mask[:, -1].all()):
        return "right"
    return default


def splice_image_features(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    t2v_query_mask: torch.Tensor | None,
    image_features: list[torch.Tensor],
    embed_tokens: nn.Module,
    padding_side: str,
    max_length: int | None,
) -> SplicedInputs:
    """Replace every sentinel by the next image's features, sample by sample, then re-pad.

    `image_features` holds one `(n_i, D)` tensor per placeholder, in batch order. A sample longer than
    `max_length` after splicing is an error rather than a silent truncation: a truncated prompt loses the question
    (inference) or answers (training) without anyone noticing.
    """
    batch, _ = input_ids.shape
    valid = (
        torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    )
    placeholders = count_image_placeholders(input_ids.masked_fill(~valid, 0))
    if sum(placeholders) != len(image_features):
        raise ValueError(
            f"Got {len(image_features)} image(s) for {sum(placeholders)} <image> placeholder(s) "
            f"(per sample: {placeholders}); pass exactly one image per placeholder, in order."
        )
    text_embeds = embed_tokens(input_ids.clamp(min=0))
    pieces: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
    image_cursor = 0
    for b in range(batch):
        keep = valid[b]
        ids, embeds = input_ids[b][keep], text_embeds[b][keep]
        sample_labels = labels[b][keep] if labels is not None else torch.full_like(ids, IGNORE_INDEX)
        queries = t2v_query_mask[b][keep].bool() if t2v_query_mask is not None else torch.zeros_like(ids, dtype=torch.bool)
        sentinels = (ids == IMAGE_TOKEN_INDEX).nonzero().flatten().tolist()
        bounds = [-1, *sentinels, ids.shape[0]]
        parts_e, parts_l, parts_v, parts_q = [], [], [], []
        for i in range(len(bounds) - 1):
            start, end = bounds[i] + 1, bounds[i + 1]
            parts_e.append(embeds[start:end])
            parts_l.append(sample_labels[start:end])
            parts_v.append(torch.zeros(end - start, dtype=torch.bool, device=ids.device))
            parts_q.append(queries[start:end])
            if i < len(sentinels):
                feats = image_features[image_cursor].to(embeds.dtype)
                image_cursor += 1
                parts_e.append(feats)
                parts_l.append(torch.full((feats.shape[0],), IGNORE_INDEX, dtype=sample_labels.dtype, device=ids.device))
                parts_v.append(torch.ones(feats.shape[0], dtype=torch.bool, device=ids.device))
                parts_q.append(torch.zeros(feats.shape[0], dtype=torch.bool, device=ids.device))
        sample = (torch.cat(parts_e), torch.cat(parts_l), torch.cat(parts_v), torch.cat(parts_q))
        if max_length is not None and sample[0].shape[0] > max_length:
            raise ValueError(
                f"Sample {b} is {sample[0].shape[0]} positions long after splicing its image features, above the "
                f"context length {max_length} (tokenizer_model_max_length). Shorten the prompt or raise the limit."
            )
        pieces.append(sample)
    return _pad(pieces, padding_side, labels is not None, t2v_query_mask is not None)


def _pad(
    pieces: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]],
    padding_side: str,
    with_labels: bool,
    with_queries: bool,
) -> SplicedInputs:
    length = max(p[0].shape[0] for p in pieces)
    first = pieces[0][0]
    batch, hidden = len(pieces), first.shape[-1]
    embeds = first.new_zeros(batch, length, hidden)
    mask = torch.zeros(batch, length, dtype=torch.long, device=first.device)
    labels = torch.full((batch, length), IGNORE_INDEX, dtype=torch.long, device=first.device)
    visual = torch.zeros(batch, length, dtype=torch.bool, device=first.device)
    queries = torch.zeros(batch, length, dtype=torch.bool, device=first.device)
    for b, (e, lab, vis, q) in enumerate(pieces):
        n = e.shape[0]
        span = slice(length - n, length) if padding_side == "left" else slice(0, n)
        embeds[b, span], mask[b, span], labels[b, span], visual[b, span], queries[b, span] = e, 1, lab, vis, q
    return SplicedInputs(
        inputs_embeds=embeds,
        attention_mask=mask,
        labels=labels if with_labels else None,
        visual_token_mask=visual,
        t2v_query_mask=queries if with_queries else None,
    )
