"""Stage A (V2V): redundancy-aware merging of vision tokens before the projector (paper.md §2.1).

Pure, batched torch. The vision tower keeps its fast attention kernel: `cls_attention_stats` recomputes
only the CLS query row on the side, and `v2v_compress` turns that row plus the head-averaged keys into
``dominant + contextual`` tokens per image with no Python loop over tokens or samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from duet.adapter import SelectLayer
from duet.config import DuetConfig, V2VMode


def cls_attention_stats(
    normed_hidden: torch.Tensor,
    q_proj: Callable[[torch.Tensor], torch.Tensor],
    k_proj: Callable[[torch.Tensor], torch.Tensor],
    num_heads: int,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """CLS→patch attention summed over heads, and the head-averaged keys, of one ViT layer.

    ``normed_hidden`` (B, N+1, D) is that layer's input after its pre-attention LayerNorm (CLS at index 0).
    Only the CLS query row is computed, so this costs O(N) instead of the O(N²) of ``output_attentions``. It runs
    outside autocast (q/k in the projections' dtype, softmax in fp32), so bf16 autocast cannot change the ranking.

    Returns ``cls_to_patch`` (B, N) float32 — the fp32 softmax of the CLS row over all N+1 keys, summed over
    heads and restricted to the N patches — and ``mean_keys`` (B, N+1, head_dim) in the keys' dtype, the
    raw ``k_proj`` output split into heads and averaged over them (VisionZip's similarity metric).
    """
    batch, tokens, _ = normed_hidden.shape
    with torch.autocast(device_type=normed_hidden.device.type, enabled=False):
        normed_hidden = normed_hidden.to(_weight_dtype(q_proj, normed_hidden.dtype))
        keys = k_proj(normed_hidden).view(batch, tokens, num_heads, -1)  # (B, N+1, H, hd)
        query = q_proj(normed_hidden[:, :1]).view(batch, num_heads, -1)  # (B, H, hd)
        logits = torch.einsum("bhd,bthd->bht", query.float(), keys.float()) * scale
        cls_to_patch = logits.softmax(dim=-1).sum(dim=1)[:, 1:]
    return cls_to_patch, keys.mean(dim=2)


def _weight_dtype(projection: Callable[[torch.Tensor], torch.Tensor], default: torch.dtype) -> torch.dtype:
    """The dtype a projection computes in (its weight's), so that inputs match it with autocast switched off."""
    weight = getattr(projection, "weight", None)
    return weight.dtype if isinstance(weight, torch.Tensor) else default


@dataclass(frozen=True)
class V2VResult:
    """Output of `v2v_compress`.

    ``tokens`` (B, K, D), K = dominant + contextual: dominant tokens in ascending original index (CLS first),
    then contextual tokens in anchor order. ``source_index`` (B, K): original token index (0 = CLS) of each
    output token; for a contextual token, its anchor's index. ``assignment`` (B, N+1) long: the output slot
    each original token went into, -1 if it was discarded; merged members point at their contextual slot.
    """

    tokens: torch.Tensor
    source_index: torch.Tensor
    assignment: torch.Tensor


def _anchor_positions(pool_size: int, contextual: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (within an ordered candidate pool) of the anchors and of the members to merge.

    Anchors sit at stride ``max(1, pool_size // contextual)`` starting at 0, the first ``contextual`` of them.
    The same positions serve every sample, which is what lets the merge run batched.
    """
    step = max(1, pool_size // contextual)
    anchors = torch.arange(0, pool_size, step)[:contextual]
    is_anchor = torch.zeros(pool_size, dtype=torch.bool)
    is_anchor[anchors] = True
    return anchors, torch.nonzero(~is_anchor).flatten()


def _gather_tokens(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b, i]]`` for (B, T, C) ``x`` and (B, I) ``index``."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def v2v_compress(
    hidden: torch.Tensor,
    cls_to_patch: torch.Tensor,
    mean_keys: torch.Tensor,
    dominant: int,
    contextual: int,
    cluster_width: int,
    mode: V2VMode = "duet",
) -> V2VResult:
    """Keep CLS + the top ``dominant - 1`` patches by CLS attention, and merge others into ``contextual`` tokens.

    ``hidden`` (B, N+1, D) holds CLS at index 0; ``cls_to_patch`` (B, N) scores the N patches; ``mean_keys``
    (B, N+1, dk) is the cosine-similarity metric. Ranking is a stable descending sort (ties → lower index).

    "duet" mode (cluster-width variant): the pool is the ``min(cluster_width·contextual, |R|)`` best-scored
    non-dominant patches in descending score order; anchors are taken at a stride inside it; the other pool
    members merge into their most similar anchor; non-dominant patches outside the pool are discarded.
    "visionzip" mode (original VisionZip): the pool is ALL non-dominant patches in raster order, anchors at a
    uniform index stride, every other patch merged.
    A contextual token is ``H_anchor + mean(H_members)`` (zero members → the anchor alone), as in VisionZip.
    """
    batch, tokens, _ = hidden.shape
    patches = tokens - 1
    kept_patches = dominant - 1
    residual = patches - kept_patches
    if cls_to_patch.shape != (batch, patches) or mean_keys.shape[:2] != (batch, tokens):
        raise ValueError(
            f"v2v_compress: hidden {tuple(hidden.shape)}, cls_to_patch {tuple(cls_to_patch.shape)} and mean_keys "
            f"{tuple(mean_keys.shape)} disagree. Fix: pass (B,N+1,D), (B,N) and (B,N+1,dk) for the same B and N."
        )
    if dominant < 1 or contextual < 0 or kept_patches + contextual > patches:
        raise ValueError(
            f"v2v_compress: dominant={dominant}, contextual={contextual} do not fit {patches} patches. Fix: need "
            "dominant >= 1 (it includes CLS), contextual >= 0 and dominant - 1 + contextual <= patches."
        )
    device = hidden.device
    order = torch.sort(cls_to_patch, dim=1, descending=True, stable=True).indices + 1  # token indices, best first
    cls_index = torch.zeros(batch, 1, dtype=torch.long, device=device)
    dominant_index = torch.cat([cls_index, order[:, :kept_patches].sort(dim=1).values], dim=1)
    assignment = torch.full((batch, tokens), -1, dtype=torch.long, device=device)
    slots = torch.arange(dominant, device=device).expand(batch, -1)
    assignment.scatter_(1, dominant_index, slots)
    if contextual == 0:
        return V2VResult(_gather_tokens(hidden, dominant_index), dominant_index, assignment)

    if mode == "duet":
        pool = order[:, kept_patches : kept_patches + min(cluster_width * contextual, residual)]
    elif mode == "visionzip":
        pool = order[:, kept_patches:].sort(dim=1).values
    else:
        raise ValueError(f"v2v_compress: unknown mode {mode!r}. Fix: use 'duet' or 'visionzip'.")
    anchor_pos, member_pos = _anchor_positions(pool.shape[1], contextual)
    anchor_index = pool[:, anchor_pos.to(device)]
    member_index = pool[:, member_pos.to(device)]

    with torch.autocast(device_type=device.type, enabled=False):
        metric = F.normalize(mean_keys.float(), dim=-1)
        similarity = torch.bmm(_gather_tokens(metric, member_index), _gather_tokens(metric, anchor_index).mT)
        choice = similarity.argmax(dim=2)  # (B, M): first maximum wins, so ties go to the earlier anchor
        one_hot = F.one_hot(choice, contextual).float()  # (B, M, k_c)
        members_sum = torch.bmm(one_hot.mT, _gather_tokens(hidden, member_index).float())
        counts = one_hot.sum(dim=1).clamp(min=1).unsqueeze(-1)
        merged = (_gather_tokens(hidden, anchor_index).float() + members_sum / counts).to(hidden.dtype)

    assignment.scatter_(1, anchor_index, dominant + torch.arange(contextual, device=device).expand(batch, -1))
    assignment.scatter_(1, member_index, dominant + choice)
    out = torch.cat([_gather_tokens(hidden, dominant_index), merged], dim=1)
    return V2VResult(out, torch.cat([dominant_index, anchor_index], dim=1), assignment)


def compress(layer: SelectLayer, config: DuetConfig) -> V2VResult:
    """Stage A for a host's select layer: `v2v_compress` with the config's counts and mode."""
    if config.dominant is None:
        raise ValueError("duet.v2v.compress: V2V is off in this config (dominant is None); use the layer's output.")
    return v2v_compress(
        layer.output,
        layer.cls_attention,
        layer.mean_keys,
        dominant=config.dominant,
        contextual=config.contextual,
        cluster_width=config.cluster_width,
        mode=config.v2v_mode,
    )
