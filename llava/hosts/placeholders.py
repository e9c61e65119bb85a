"""Shrink a processor's image placeholders to the features V2V actually produced, batched, with one sync.

transformers' LLaVA processors expand each `<image>` into one placeholder token per patch (576 for LLaVA-1.5 at
336 px): the sequence length is fixed in the ids. DUET's V2V turns an image into ``N0 = dominant + contextual``
features, so each run of ``P`` placeholders keeps its *last* ``N0`` positions (the image's last visual position still
precedes the text that follows it, as in LLaVA's splice), the features fill them in order, and the other
``P - N0`` positions leave the sequence before the LLM sees it. The result is, position for position, the sequence
LLaVA's own splice builds, so both hosts feed the decoder the same tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from duet.labels import IGNORE_INDEX
from duet.tokens import BatchShape, compact_positions, kept_index
from llava.model.multimodal_inputs import padding_side_from_flags


@dataclass(frozen=True)
class PackedInputs:
    """The LLM's input in sequence coordinates, and how each sample's length changed (``pack_shift``, (B,))."""

    hidden: torch.Tensor
    valid: torch.Tensor
    visual: torch.Tensor
    labels: torch.Tensor | None
    marked: torch.Tensor | None
    position_ids: torch.Tensor
    shape: BatchShape
    pack_shift: torch.Tensor


def pack_image_placeholders(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    marked: torch.Tensor | None,
    embeds: torch.Tensor,
    features: torch.Tensor,
    image_token_id: int,
    placeholders_per_image: int,
) -> PackedInputs:
    """Write ``features`` (K, n, D), one row per image in placeholder order, over each image's last ``n`` placeholders.

    ``embeds`` are the token embeddings of ``input_ids``; ``labels`` and ``marked`` (salient query mask) are aligned
    with them. Raises when a sample's placeholder count is not a multiple of ``placeholders_per_image`` or when the
    number of images differs from ``K``.
    """
    batch, length = input_ids.shape
    device = input_ids.device
    per_image, kept = placeholders_per_image, features.shape[1]
    if kept > per_image:
        raise ValueError(f"{kept} features per image do not fit {per_image} placeholders per image.")
    valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    placeholder = (input_ids == image_token_id) & valid
    flags = torch.stack([valid[:, 0].all(), valid[:, -1].all()]).long()
    packed = torch.cat([valid.sum(dim=1), placeholder.sum(dim=1), flags]).tolist()
    valid_counts, placeholder_counts = packed[:batch], packed[batch : 2 * batch]
    padding_side = padding_side_from_flags(bool(packed[-2]), bool(packed[-1]), "right")
    uneven = [b for b, count in enumerate(placeholder_counts) if count % per_image]
    images = [count // per_image for count in placeholder_counts]
    if uneven or sum(images) != features.shape[0]:
        raise ValueError(
            f"Image placeholders and images do not match: samples hold {placeholder_counts} placeholder tokens "
            f"(id {image_token_id}), {per_image} per image, for {features.shape[0]} image(s). Fix: build the inputs "
            "with the model's own processor, one <image> per image."
        )
    dropped = [count * (per_image - kept) for count in images]
    new_valid_counts = [v - d for v, d in zip(valid_counts, dropped, strict=True)]
    shape = BatchShape(tuple(new_valid_counts), tuple(count * kept for count in images), padding_side)

    rank_in_image = (placeholder.long().cumsum(dim=1) - 1) % per_image
    keep = valid & (~placeholder | (rank_in_image >= per_image - kept))
    index, new_valid = kept_index(keep, valid, padding_side, shape.width)
    visual = placeholder.gather(1, index) & new_valid
    hidden = embeds.gather(1, index.unsqueeze(-1).expand(-1, -1, embeds.shape[-1]))
    hidden = hidden.masked_scatter(visual.unsqueeze(-1), features.reshape(-1, features.shape[-1]).to(hidden.dtype))
    return PackedInputs(
        hidden=hidden,
        valid=new_valid,
        visual=visual,
        labels=labels.gather(1, index).masked_fill(~new_valid, IGNORE_INDEX) if labels is not None else None,
        marked=marked.bool().gather(1, index) & new_valid if marked is not None else None,
        position_ids=compact_positions(new_valid),
        shape=shape,
        pack_shift=torch.tensor(dropped, dtype=torch.long).to(device, non_blocking=True),
    )
