"""Splice image features into the token embeddings (LLaVA's `prepare_inputs_labels_for_multimodal`), batched.

`input_ids` carry one sentinel (`IMAGE_TOKEN_INDEX`, −200) per image; each sentinel is replaced by that image's
features, whose count is not fixed (576 for LLaVA-1.5, `dominant + contextual` under DUET's V2V). Labels of visual
positions become `IGNORE_INDEX`. The masks the decoder needs for T2V (which positions are visual, which are queries)
are carried along in the same coordinates.

The whole batch is spliced with scatters, no loop over samples: each input position's output position is an
exclusive cumulative sum of how many positions it expands to (1 per text token, the feature count per sentinel, 0
per pad). The per-sample counts that size the output are read from the device once (`SplicedInputs.shape`), and the
DUET engine reuses them, so a prefill waits on the device once.
"""

from dataclasses import dataclass

import torch
from torch import nn

from duet.tokens import BatchShape, PaddingSide
from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX


@dataclass
class SplicedInputs:
    """Everything the decoder needs, in embedding coordinates, padded to the batch's longest sample."""

    inputs_embeds: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None
    visual_token_mask: torch.Tensor
    t2v_query_mask: torch.Tensor | None
    shape: BatchShape


def _read_counts(valid: torch.Tensor, sentinels: torch.Tensor) -> tuple[list[int], list[int], bool, bool]:
    """Per-sample valid and sentinel counts, and whether the first / last column is all valid: one device sync."""
    flags = torch.stack([valid[:, 0].all(), valid[:, -1].all()]).long() if valid.shape[1] else torch.ones(2).long()
    packed = torch.cat([valid.sum(dim=1), sentinels.sum(dim=1), flags.to(valid.device)]).tolist()
    batch = valid.shape[0]
    return packed[:batch], packed[batch : 2 * batch], bool(packed[-2]), bool(packed[-1])


def padding_side_from_flags(first_all_valid: bool, last_all_valid: bool, default: str) -> PaddingSide:
    """Left when some sample is padded at its start, right when padded at its end, else ``default``."""
    if not first_all_valid:
        return "left"
    if not last_all_valid:
        return "right"
    return "left" if default == "left" else "right"


def _features_per_sample(
    placeholders: list[int], features: list[torch.Tensor], max_length: int | None, out_lengths: list[int]
) -> list[int]:
    """Visual positions per sample (features are in placeholder order), with the count and length checks."""
    if sum(placeholders) != len(features):
        raise ValueError(
            f"Got {len(features)} image(s) for {sum(placeholders)} <image> placeholder(s) "
            f"(per sample: {placeholders}); pass exactly one image per placeholder, in order."
        )
    visual, cursor = [], 0
    for count in placeholders:
        visual.append(sum(f.shape[0] for f in features[cursor : cursor + count]))
        cursor += count
    for b, length in enumerate(out_lengths):
        if max_length is not None and length > max_length:
            raise ValueError(
                f"Sample {b} is {length} positions long after splicing its image features, above the context "
                f"length {max_length} (tokenizer_model_max_length). Shorten the prompt or raise the limit."
            )
    return visual


def splice_image_features(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    t2v_query_mask: torch.Tensor | None,
    image_features: list[torch.Tensor],
    embed_tokens: nn.Module,
    default_padding_side: str,
    max_length: int | None,
) -> SplicedInputs:
    """Replace every sentinel by the next image's features, then re-pad on the batch's padding side.

    ``image_features`` holds one ``(n_i, D)`` tensor per placeholder, in batch order. The padding side is read from
    ``attention_mask`` (``default_padding_side`` when nothing is padded). A sample longer than ``max_length`` after
    splicing is an error rather than a silent truncation: a truncated prompt loses the question (inference) or
    answers (training) without anyone noticing.
    """
    batch, length = input_ids.shape
    device = input_ids.device
    valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    sentinels = (input_ids == IMAGE_TOKEN_INDEX) & valid
    text = valid & ~sentinels
    valid_counts, placeholders, first_valid, last_valid = _read_counts(valid, sentinels)
    image_lengths = [f.shape[0] for f in image_features]
    out_lengths = [v - p for v, p in zip(valid_counts, placeholders, strict=True)]
    cursor = 0
    for b, count in enumerate(placeholders):
        out_lengths[b] += sum(image_lengths[cursor : cursor + count])
        cursor += count
    visual_counts = _features_per_sample(placeholders, image_features, max_length, out_lengths)
    padding_side = padding_side_from_flags(first_valid, last_valid, default_padding_side)
    width = max(out_lengths, default=0)

    # Output position of every input position: exclusive cumsum of its expansion, shifted right under left padding.
    expansion = text.long()
    total_visual = sum(image_lengths)
    lengths = torch.tensor(image_lengths, dtype=torch.long).to(device, non_blocking=True)
    if image_features:
        rank = (sentinels.flatten().long().cumsum(0) - 1).clamp(min=0).view(batch, length)
        expansion = expansion + torch.where(sentinels, lengths[rank], 0)
    out_len = torch.tensor(out_lengths, dtype=torch.long).to(device, non_blocking=True)
    offset = (width - out_len) if padding_side == "left" else torch.zeros_like(out_len)
    start = expansion.cumsum(dim=1) - expansion + offset[:, None]
    dump = torch.full_like(start, width)  # padding and sentinels land in a spare column that is cut off
    text_dest = torch.where(text, start, dump)

    text_embeds = embed_tokens(input_ids.clamp(min=0))
    hidden = text_embeds.shape[-1]
    embeds = text_embeds.new_zeros(batch, width + 1, hidden).scatter(
        1, text_dest.unsqueeze(-1).expand(-1, -1, hidden), text_embeds
    )
    visual = torch.zeros(batch * (width + 1), dtype=torch.bool, device=device)
    if image_features:
        flat_order = torch.sort((~sentinels).flatten().to(torch.uint8), stable=True).indices[: len(image_features)]
        image_base = (flat_order // length) * (width + 1) + start.flatten()[flat_order]
        image_of_row = torch.repeat_interleave(
            torch.arange(len(image_features), device=device), lengths, output_size=total_visual
        )
        first_row = lengths.cumsum(0) - lengths
        rows = image_base[image_of_row] + torch.arange(total_visual, device=device) - first_row[image_of_row]
        features = torch.cat(image_features).to(embeds.dtype)
        embeds = embeds.view(-1, hidden).index_copy(0, rows, features).view(batch, width + 1, hidden)
        visual = visual.index_fill(0, rows, True)

    def spread(values: torch.Tensor, fill: int | bool) -> torch.Tensor:
        base = torch.full((batch, width + 1), fill, dtype=values.dtype, device=device)
        return base.scatter(1, text_dest, values)[:, :width]

    columns = torch.arange(width, device=device)[None, :]
    out_valid = columns >= width - out_len[:, None] if padding_side == "left" else columns < out_len[:, None]
    return SplicedInputs(
        inputs_embeds=embeds[:, :width],
        attention_mask=out_valid.long(),
        labels=spread(labels.masked_fill(~text, IGNORE_INDEX), IGNORE_INDEX) if labels is not None else None,
        visual_token_mask=visual.view(batch, width + 1)[:, :width],
        t2v_query_mask=spread(t2v_query_mask.bool() & text, False) if t2v_query_mask is not None else None,
        shape=BatchShape(valid=tuple(out_lengths), visual=tuple(visual_counts), padding_side=padding_side),
    )
