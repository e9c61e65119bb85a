"""Shrink a processor's image (and video-frame) placeholders to the features V2V actually produced, with one sync.

transformers' LLaVA processors expand each `<image>` into one placeholder token per patch (576 for LLaVA-1.5 at
336 px; Video-LLaVA: 256 per image, 8 x 257 per `<video>`, CLS kept per frame): the sequence length is fixed in the
ids. DUET's V2V turns an image or frame into ``N0 = dominant + contextual`` features, so every *unit* — an image's
placeholders, or one frame's — keeps its *last* ``N0`` positions (the unit's last visual position still precedes
the text that follows it, as in LLaVA's splice), the features fill them in order, and the other positions leave the
sequence before the LLM sees it. The result is, position for position, the sequence LLaVA's own splice builds from
one sentinel per image or frame, so both kinds of host feed the decoder the same tokens. Samples may mix kinds.
"""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True)
class PlaceholderKind:
    """One kind of placeholder run: its token id, positions per unit (image or frame), and the units' features
    (K, n, D) in placeholder order (n <= per_unit)."""

    token_id: int
    per_unit: int
    features: torch.Tensor
    name: str


def pack_visual_placeholders(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    marked: torch.Tensor | None,
    embeds: torch.Tensor,
    kinds: Sequence[PlaceholderKind],
) -> PackedInputs:
    """Keep each unit's last ``n`` placeholders of every kind, fill them with that kind's features, drop the rest."""
    batch, length = input_ids.shape
    device = input_ids.device
    valid = torch.ones_like(input_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
    masks = [(input_ids == kind.token_id) & valid for kind in kinds]
    flags = torch.stack([valid[:, 0].all(), valid[:, -1].all()]).long()
    packed = torch.cat([valid.sum(dim=1), *(m.sum(dim=1) for m in masks), flags]).tolist()  # the one sync
    valid_counts = packed[:batch]
    padding_side = padding_side_from_flags(bool(packed[-2]), bool(packed[-1]), "right")
    keep = valid.clone()
    dropped = [0] * batch
    visual_counts = [0] * batch
    for k, (kind, mask) in enumerate(zip(kinds, masks, strict=True)):
        counts = packed[batch * (k + 1) : batch * (k + 2)]
        units = [count // kind.per_unit for count in counts]
        kept = kind.features.shape[1] if kind.features.numel() else kind.per_unit
        if any(count % kind.per_unit for count in counts) or sum(units) != kind.features.shape[0]:
            raise ValueError(
                f"{kind.name} placeholders and inputs do not match: samples hold {counts} {kind.name} tokens (id "
                f"{kind.token_id}), {kind.per_unit} per {kind.name} unit, for {kind.features.shape[0]} unit(s). Fix: "
                "build the inputs with the model's processor (one <image> per image, one <video> per video)."
            )
        if kept > kind.per_unit:
            raise ValueError(f"{kept} features per {kind.name} unit do not fit {kind.per_unit} placeholders.")
        rank = (mask.long().cumsum(dim=1) - 1) % kind.per_unit
        keep &= ~mask | (rank >= kind.per_unit - kept)
        for b, count in enumerate(units):
            dropped[b] += count * (kind.per_unit - kept)
            visual_counts[b] += count * kept
    shape = BatchShape(
        tuple(v - d for v, d in zip(valid_counts, dropped, strict=True)), tuple(visual_counts), padding_side
    )
    index, new_valid = kept_index(keep, valid, padding_side, shape.width)
    hidden = embeds.gather(1, index.unsqueeze(-1).expand(-1, -1, embeds.shape[-1]))
    visual = torch.zeros_like(new_valid)
    for kind, mask in zip(kinds, masks, strict=True):
        slots = mask.gather(1, index) & new_valid
        if kind.features.numel():
            features = kind.features.reshape(-1, kind.features.shape[-1]).to(hidden.dtype)
            hidden = hidden.masked_scatter(slots.unsqueeze(-1), features)
        visual |= slots
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
