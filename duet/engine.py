"""The staged decoder loop: DUET's T2V stages for any host that implements `DecoderAdapter`.

A prefill (or training step) runs the decoder in *stages* separated by the config's stage layers. After stage
layer ℓ the engine scores every position with layer ℓ's successor (`duet.t2v.score_with_layer`), keeps
``int(N0·r)`` visual positions per sample, re-packs every per-position tensor with one index (`duet.tokens`), and
gives the next stage its own causal mask and rotary positions. Labels are turned into next-token targets before the
first drop (`duet.labels`). With a cache, each stage's mask and position shift are recorded in a `DuetCache`, and
`decode` replays them: one column appended per step, positions shifted per stage, no mask rebuilt from scratch.

The host brings the batch in *sequence coordinates* (after its own splice of image features, or after packing a
processor's image placeholders); ``PrefillBatch.input_length`` and ``pack_shift`` relate them to the caller's
coordinates (what `generate`'s attention mask and position ids count), so decoding works for both kinds of host.
The only device→host synchronisation is the host's `duet.tokens.read_batch_shape`; everything here runs on host
integers derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from transformers.masking_utils import create_causal_mask

from duet.adapter import DecoderAdapter
from duet.cache import DuetCache
from duet.config import DuetConfig
from duet.labels import IGNORE_INDEX, next_token_targets
from duet.t2v import keep_counts, score_with_layer, select_kept_tokens
from duet.tokens import BatchShape, TokenState, compact_positions, kept_index


@dataclass(frozen=True)
class PrefillBatch:
    """A prefill or training batch in sequence coordinates; every tensor (B, L) except ``hidden`` (B, L, D).

    ``queries`` are already resolved (`duet.queries.resolve_queries`); ``labels`` are unshifted (or None);
    ``shape`` comes from the host's single `read_batch_shape`. ``input_length`` is the caller's sequence length and
    ``pack_shift`` (B,) how many input positions each sample lost before the LLM (negative when the host's splice
    made the sequence longer); None means the two coordinate systems coincide.
    """

    hidden: torch.Tensor
    valid: torch.Tensor
    visual: torch.Tensor
    queries: torch.Tensor
    labels: torch.Tensor | None
    position_ids: torch.Tensor
    shape: BatchShape
    input_length: int
    pack_shift: torch.Tensor | None = None


@dataclass(frozen=True)
class EngineOutput:
    """The final (normed) hidden states and the bookkeeping a host needs for logits, loss and tracing.

    ``kept_index`` (B, L') maps each output position to its sequence position (valid where ``kept_valid``);
    ``targets`` are the kept next-token targets (None without labels); ``keep_masks`` holds, per T2V stage, a
    (B, L) mask in sequence coordinates of the visual positions that survived it.
    """

    hidden: torch.Tensor
    cache: DuetCache | None
    kept_index: torch.Tensor
    kept_valid: torch.Tensor
    targets: torch.Tensor | None
    keep_masks: tuple[torch.Tensor, ...]


def stage_bounds(config: DuetConfig, num_layers: int) -> list[tuple[int, int]]:
    """[first, end) decoder-layer ranges of the stages: layers before the first stage layer, then between drops."""
    starts = [0, *config.layer_list]
    return list(zip(starts, [*config.layer_list, num_layers], strict=True))


def _prefill_mask(adapter: DecoderAdapter, hidden: torch.Tensor, state: TokenState, cache: Any, layer: int) -> Any:
    """transformers' causal mask for a stage; unpadded batches pass no 2-D mask, so SDPA may use ``is_causal``.

    ``position_ids`` is withheld on purpose: with it and no mask transformers looks for packed sequences (a
    device sync), and the gaps ``position_ids="keep"`` leaves after a drop would look like sequence boundaries.
    """
    padded = state.shape.padded
    return create_causal_mask(
        config=adapter.config,
        inputs_embeds=hidden,
        attention_mask=state.valid if padded else None,
        cache=cache,
        position_ids=None,
        layer_idx=layer,
        allow_is_causal_skip=not padded,
    )


def _visual_survivors(state: TokenState, length: int) -> torch.Tensor:
    """(B, ``length``) mask, in sequence coordinates, of the visual positions still present in ``state``."""
    target = torch.where(state.visual, state.original_index, length)
    kept = torch.zeros(state.valid.shape[0], length + 1, dtype=torch.bool, device=state.valid.device)
    return kept.scatter_(1, target, True)[:, :length]


def _drop(
    state: TokenState, adapter: DecoderAdapter, layer: int, ratio: float, n0: tuple[int, ...], compact: bool,
    position_embeddings: tuple[torch.Tensor, torch.Tensor],
) -> TokenState:  # fmt: skip
    """Score with ``layers[layer]``, keep ``int(N0·r)`` visual positions per sample, re-pack the batch."""
    shape = state.shape
    longest_text = max((v - n for v, n in zip(shape.valid, shape.visual, strict=True)), default=0)
    scores = score_with_layer(
        adapter.scoring(layer), state.hidden, state.valid, state.queries, position_embeddings, max(1, longest_text)
    )
    # A query is visual only as the fallback (the `plain` template's last prompt position is the image's last
    # token): it ranks first so later stages keep a query while any visual token is kept.
    ranked = scores.masked_fill(state.queries, float("inf"))
    keep = keep_counts(n0, ratio)
    keep_mask = select_kept_tokens(ranked, state.visual, keep, shape.visual)
    new_shape = shape.after_keeping(keep)
    index, new_valid = kept_index(keep_mask, state.valid, shape.padding_side, new_shape.width)
    pruned = state.gather(index, new_valid, new_shape)
    return replace(pruned, position_ids=compact_positions(new_valid)) if compact else pruned


def prefill(
    adapter: DecoderAdapter,
    config: DuetConfig,
    batch: PrefillBatch,
    use_cache: bool = False,
    **layer_kwargs: Any,
) -> EngineOutput:
    """Run every decoder layer over ``batch`` with the config's T2V drops (none: a single stage)."""
    device = batch.hidden.device
    length = batch.hidden.shape[1]
    state = TokenState(
        hidden=batch.hidden,
        valid=batch.valid,
        position_ids=batch.position_ids,
        visual=batch.visual & batch.valid,
        queries=batch.queries & batch.valid,
        targets=next_token_targets(batch.labels) if batch.labels is not None else None,
        original_index=torch.arange(length, device=device).expand(batch.valid.shape[0], -1),
        shape=batch.shape,
    )
    cache = DuetCache(adapter.config, batch.input_length) if use_cache else None
    shift = batch.pack_shift if batch.pack_shift is not None else torch.zeros_like(batch.valid[:, 0], dtype=torch.long)
    compact = config.position_ids == "compact"
    ratios = dict(zip(config.layer_list, config.ratio_list, strict=True))
    keep_masks: list[torch.Tensor] = []
    hidden = state.hidden
    position_embeddings = adapter.rotary(hidden, state.position_ids)
    for first, end in stage_bounds(config, len(adapter.layers)):
        if first > 0:
            valid_before = state.valid.sum(dim=1)
            state = _drop(
                state.with_hidden(hidden), adapter, first, ratios[first], batch.shape.visual, compact,
                position_embeddings,
            )  # fmt: skip
            if compact:
                shift = shift + valid_before - state.valid.sum(dim=1)
            keep_masks.append(_visual_survivors(state, length))
            hidden = state.hidden
            position_embeddings = adapter.rotary(hidden, state.position_ids)
        if cache is not None:
            cache.record(first, state.valid, shift)
        mask = _prefill_mask(adapter, hidden, state, cache, first)
        for decoder_layer in adapter.layers[first:end]:
            hidden = decoder_layer(
                hidden,
                attention_mask=mask,
                position_embeddings=position_embeddings,
                position_ids=state.position_ids,
                cache=cache,
                use_cache=use_cache,
                **layer_kwargs,
            )
    return EngineOutput(
        hidden=adapter.norm(hidden),
        cache=cache,
        kept_index=state.original_index,
        kept_valid=state.valid,
        targets=state.targets.masked_fill(~state.valid, IGNORE_INDEX) if state.targets is not None else None,
        keep_masks=tuple(keep_masks),
    )


def _decode_mask(adapter: DecoderAdapter, hidden: torch.Tensor, mask: torch.Tensor, cache: DuetCache, layer: int) -> Any:
    """The attention mask of one decode step over a stage's cached positions plus the new ones.

    For one new token under SDPA or eager attention the mask is the stage's 2-D mask broadcast (bool for SDPA, an
    additive mask in the hidden dtype for eager) — what `create_causal_mask` would build, without rebuilding it.
    Other backends and multi-token steps go through `create_causal_mask`.
    """
    implementation = adapter.config._attn_implementation
    if hidden.shape[1] == 1 and implementation == "sdpa":
        return mask[:, None, None, :]
    if hidden.shape[1] == 1 and implementation == "eager":
        additive = torch.zeros(mask.shape, dtype=hidden.dtype, device=hidden.device)
        return additive.masked_fill(~mask, torch.finfo(hidden.dtype).min)[:, None, None, :]
    return create_causal_mask(
        config=adapter.config,
        inputs_embeds=hidden,
        attention_mask=mask,
        cache=cache,
        position_ids=None,
        layer_idx=layer,
        allow_is_causal_skip=False,
    )


def decode(
    adapter: DecoderAdapter,
    hidden: torch.Tensor,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    cache: DuetCache,
    **layer_kwargs: Any,
) -> torch.Tensor:
    """One or more new tokens on a DUET cache; returns the final (normed) hidden states.

    ``attention_mask`` and ``position_ids`` are in the caller's coordinates (as `generate` keeps them); without
    ``position_ids`` the new tokens continue the prompt's valid positions.
    """
    steps = hidden.shape[1]
    if position_ids is None:
        first = cache.stages[0]
        consumed = first.mask.sum(dim=1) + first.shift
        position_ids = consumed[:, None] + torch.arange(steps, device=hidden.device)[None, :]
    new_columns = attention_mask[:, -steps:] if attention_mask is not None else torch.ones_like(position_ids)
    cache.extend(new_columns.bool())
    bounds = [stage.first_layer for stage in cache.stages][1:] + [len(adapter.layers)]
    for stage, end in zip(cache.stages, bounds, strict=True):
        positions = position_ids - stage.shift[:, None]
        position_embeddings = adapter.rotary(hidden, positions)
        mask = _decode_mask(adapter, hidden, stage.mask, cache, stage.first_layer)
        for decoder_layer in adapter.layers[stage.first_layer : end]:
            hidden = decoder_layer(
                hidden,
                attention_mask=mask,
                position_embeddings=position_embeddings,
                position_ids=positions,
                cache=cache,
                use_cache=True,
                **layer_kwargs,
            )
    return adapter.norm(hidden)
