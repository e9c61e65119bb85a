"""The LLaVA decoder: Llama plus the vision tower and projector, with DUET's T2V stages in the decoder loop.

`LlavaLlamaModel` subclasses transformers' `LlamaModel` and overrides only `forward`: the loop runs in *stages*
separated by DUET's T2V layers. With DUET off there is a single stage and the loop is the stock one, so the model
reproduces `LlamaModel` exactly. After a T2V drop the surviving tokens are re-packed (`t2v_pruning`) and the layers
of the next stage get their own causal mask and rotary positions; a prefill records this in a `DuetCache` so that
decode steps can rebuild them.
"""

from dataclasses import dataclass

import torch
from transformers import DynamicCache, LlamaModel
from transformers.cache_utils import Cache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from duet.config import DuetConfig
from llava.model.configuration_llava import LlavaConfig
from llava.model.duet_cache import DuetCache, PrunedPrefill
from llava.model.language_model.t2v_pruning import (
    TokenState,
    compact_positions,
    drop_visual_tokens,
    score_with_next_layer,
)
from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower
from llava.model.multimodal_projector.builder import build_vision_projector
from llava.model.state_dict_io import load_weight_file, strip_prefix


@dataclass
class LlavaModelOutput(BaseModelOutputWithPast):
    """`BaseModelOutputWithPast` plus where the surviving positions came from.

    `kept_index` (B, L'): for each output position, its position in the input sequence (valid where `kept_valid`).
    `t2v_keep_masks`: one (B, L) bool mask per T2V stage, in input coordinates, of the visual tokens that survived it.
    """

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None


class LlavaLlamaModel(LlamaModel):
    """The Llama decoder plus LLaVA's vision tower and projector (`model.vision_tower`, `model.mm_projector`)."""

    config: LlavaConfig
    # LLaVA checkpoints may hold tower weights, but the tower is always (re)loaded from `mm_vision_tower`.
    _keys_to_ignore_on_load_unexpected = [r"vision_tower\."]

    def __init__(self, config: LlavaConfig) -> None:
        super().__init__(config)
        self.vision_tower: CLIPVisionTower | None = None
        self.mm_projector: torch.nn.Module | None = None
        if config.mm_vision_tower is not None:
            self.vision_tower = CLIPVisionTower(
                config.mm_vision_tower,
                select_layer=config.mm_vision_select_layer,
                select_feature=config.mm_vision_select_feature,
                delay_load=True,
            )
            if config.mm_hidden_size is None:
                raise ValueError("The config names `mm_vision_tower` but not `mm_hidden_size` (the tower's width).")
            self.mm_projector = build_vision_projector(config.mm_projector_type, config.mm_hidden_size, config.hidden_size)
        self.duet: DuetConfig | None = DuetConfig.from_dict(config.duet) if config.duet else None
        self.post_init()

    def attach_vision_modules(
        self,
        vision_tower: str,
        select_layer: int = -2,
        select_feature: str = "patch",
        projector_type: str = "linear",
        pretrain_mm_mlp_adapter: str | None = None,
        attn_implementation: str = "sdpa",
    ) -> None:
        """Give a language-only model LLaVA's vision path (LLaVA's `initialize_vision_modules`, for training).

        Loads the CLIP tower from `vision_tower`, builds a fresh projector (or loads `mm_projector.bin` from
        pretraining), and records the `mm_*` fields in the config so that the saved checkpoint is a LLaVA one.
        """
        tower = CLIPVisionTower(vision_tower, select_layer, select_feature, delay_load=True, attn_implementation=attn_implementation)
        tower.load_model()
        self.vision_tower = tower
        self.config.mm_vision_tower = vision_tower
        self.config.mm_vision_select_layer = select_layer
        self.config.mm_vision_select_feature = select_feature
        self.config.mm_projector_type = projector_type
        self.config.mm_hidden_size = tower.hidden_size
        self.config.use_mm_proj = True
        self.mm_projector = build_vision_projector(projector_type, tower.hidden_size, self.config.hidden_size).to(
            dtype=self.embed_tokens.weight.dtype, device=self.embed_tokens.weight.device
        )
        if pretrain_mm_mlp_adapter is not None:
            weights = strip_prefix(load_weight_file(pretrain_mm_mlp_adapter), "model.mm_projector.")
            if not weights:
                raise ValueError(f"{pretrain_mm_mlp_adapter} holds no `model.mm_projector.*` weights.")
            self.mm_projector.load_state_dict(weights, strict=True)

    def t2v_stages(self) -> list[tuple[int, float]]:
        """(layer after which to drop, ratio of N0 to keep) for each T2V stage; empty when T2V is off."""
        if self.duet is None or not self.duet.t2v_enabled:
            return []
        return list(zip(self.duet.layer_list, self.duet.ratio_list, strict=True))

    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        visual_token_mask: torch.Tensor | None = None,
        t2v_queries: torch.Tensor | None = None,
        padding_side: str = "right",
        **kwargs,
    ) -> LlavaModelOutput:
        """The decoder loop, in stages separated by T2V drops.

        `visual_token_mask` marks visual positions and `t2v_queries` the resolved query positions (both (B, L), only
        read on a prefill or training step). A prefill with T2V returns a `DuetCache`; decode steps read it.
        """
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        if inputs_embeds is None:
            inputs_embeds = self.embed_tokens(input_ids)
        batch, length = inputs_embeds.shape[:2]
        past = cache.get_seq_length() if cache is not None else 0
        stages = self.t2v_stages()
        prune = bool(stages) and past == 0 and length > 1
        if use_cache and (cache is None or (prune and not isinstance(cache, DuetCache))):
            cache = DuetCache(self.config, prefill_length=length) if prune else DynamicCache(config=self.config)
        decode_pruned = isinstance(cache, DuetCache) and bool(cache.duet_prefill.stages) and not prune
        if position_ids is None:
            position_ids = (
                torch.arange(past, past + length, device=inputs_embeds.device).unsqueeze(0)
                if attention_mask is None or past > 0
                else compact_positions(attention_mask.bool())
            )
        position_ids = position_ids.expand(batch, -1)
        starts = [0, *(layer for layer, _ in stages)] if prune or decode_pruned else [0]
        ends = [*starts[1:], self.config.num_hidden_layers]

        state = None
        if prune:
            state = self._initial_state(inputs_embeds, attention_mask, position_ids, visual_token_mask, t2v_queries)
        n0 = state.visual.sum(dim=1).tolist() if state is not None else []
        keep_masks: list[torch.Tensor] = []
        unshifted_positions = position_ids
        hidden_states, stage_mask = inputs_embeds, attention_mask
        position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)
        for stage, (first_layer, end_layer) in enumerate(zip(starts, ends, strict=True)):
            if stage > 0:
                if prune:
                    state.hidden = hidden_states
                    state = self._drop(state, first_layer, stages[stage - 1][1], n0, position_embeddings, padding_side, cache)
                    keep_masks.append(visual_survivors(state, length))
                    hidden_states, position_ids, stage_mask = state.hidden, state.position_ids, state.valid
                else:
                    stage_mask = cache.stage_mask(stage - 1, attention_mask, length)
                    if self.duet.position_ids == "compact":
                        shift = cache.duet_prefill.stages[stage - 1].dropped_before.unsqueeze(1)
                        position_ids = unshifted_positions - shift
                position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)
            causal_mask = create_causal_mask(
                config=self.config,
                inputs_embeds=hidden_states,
                attention_mask=stage_mask,
                cache=cache,
                position_ids=position_ids,
                layer_idx=first_layer if stage > 0 else None,
            )
            for decoder_layer in self.layers[first_layer:end_layer]:
                hidden_states = decoder_layer(
                    hidden_states,
                    attention_mask=causal_mask,
                    position_embeddings=position_embeddings,
                    position_ids=position_ids,
                    cache=cache,
                    use_cache=use_cache,
                    **kwargs,
                )

        return LlavaModelOutput(
            last_hidden_state=self.norm(hidden_states),
            cache=cache,
            kept_index=state.original_index if prune else None,
            kept_valid=state.valid if prune else None,
            t2v_keep_masks=tuple(keep_masks) if prune else None,
        )

    @staticmethod
    def _initial_state(
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        visual_token_mask: torch.Tensor | None,
        t2v_queries: torch.Tensor | None,
    ) -> TokenState:
        """The per-position tensors a T2V drop gathers, before any drop."""
        batch, length = inputs_embeds.shape[:2]
        valid = (
            attention_mask[:, -length:].bool()
            if attention_mask is not None
            else torch.ones(batch, length, dtype=torch.bool, device=inputs_embeds.device)
        )
        nothing = torch.zeros_like(valid)
        return TokenState(
            hidden=inputs_embeds,
            valid=valid,
            position_ids=position_ids,
            visual=(visual_token_mask if visual_token_mask is not None else nothing) & valid,
            queries=(t2v_queries if t2v_queries is not None else nothing) & valid,
            original_index=torch.arange(length, device=valid.device).expand(batch, -1),
        )

    def _drop(
        self,
        state: TokenState,
        first_layer: int,
        ratio: float,
        n0: list[int],
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        padding_side: str,
        cache: Cache | None,
    ) -> TokenState:
        """Score with `layers[first_layer]` (the next stage's first layer), keep `int(N0·r)`, record it in the cache."""
        scores = score_with_next_layer(self.layers[first_layer], state, position_embeddings)
        pruned = drop_visual_tokens(state, scores, n0, ratio, padding_side, compact=self.duet.position_ids == "compact")
        if isinstance(cache, DuetCache):
            recorded = cache.duet_prefill.stages
            dropped = state.valid.sum(dim=1) - pruned.valid.sum(dim=1)
            if recorded:
                dropped = dropped + recorded[-1].dropped_before
            recorded.append(PrunedPrefill(first_layer, pruned.valid.clone(), dropped))
        return pruned


def visual_survivors(state: TokenState, length: int) -> torch.Tensor:
    """(B, length) mask, in input coordinates, of the visual tokens still present in `state`."""
    kept = torch.zeros(state.valid.shape[0], length, dtype=torch.bool, device=state.valid.device)
    rows, cols = state.visual.nonzero(as_tuple=True)
    kept[rows, state.original_index[rows, cols]] = True
    return kept
