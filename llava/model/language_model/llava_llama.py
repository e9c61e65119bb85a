"""LLaVA-1.5 on Llama, with DUET's two stages at their two insertion points.

`LlavaLlamaModel` subclasses transformers' `LlamaModel` and overrides only `forward`: the decoder loop runs in
*stages* separated by DUET's T2V layers. With DUET off there is a single stage and the loop is the stock one, so the
model reproduces `LlamaForCausalLM` / `LlavaForConditionalGeneration` exactly. `LlavaLlamaForCausalLM` adds the vision
tower → (V2V) → projector path and the splice of image features into the embeddings.
"""

from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModelForCausalLM, DynamicCache, LlamaForCausalLM, LlamaModel
from transformers.cache_utils import Cache
from transformers.masking_utils import create_causal_mask
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.models.llama.modeling_llama import LlamaPreTrainedModel
from transformers.utils.generic import merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from duet.config import DuetConfig
from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.model.configuration_llava import LLAVA_MODEL_TYPE, LlavaConfig
from llava.model.duet_cache import DuetCache, PrunedPrefill
from llava.model.language_model.t2v_pruning import (
    TokenState,
    compact_positions,
    drop_visual_tokens,
    score_with_next_layer,
)
from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower
from llava.model.multimodal_inputs import detect_padding_side, splice_image_features
from llava.model.multimodal_projector.builder import build_vision_projector
from llava.model.state_dict_io import load_weight_file, strip_prefix
from llava.model.t2v_queries import resolve_t2v_queries

VISION_TOWER_PREFIX = "model.vision_tower."


@dataclass
class LlavaModelOutput(BaseModelOutputWithPast):
    """`BaseModelOutputWithPast` plus where the surviving positions came from.

    `kept_index` (B, L'): for each output position, its position in the input sequence (valid where `kept_valid`).
    `t2v_keep_masks`: one (B, L) bool mask per T2V stage, in input coordinates, of the visual tokens that survived it.
    """

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None


@dataclass
class LlavaCausalLMOutput(CausalLMOutputWithPast):
    """`CausalLMOutputWithPast` plus DUET's bookkeeping (see `LlavaModelOutput`) and the spliced visual mask."""

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None
    visual_token_mask: torch.Tensor | None = None


def positions_from_mask(valid: torch.Tensor, past: int) -> torch.Tensor:
    """Positions that count only valid tokens (left padding starts each sample at 0, as `generate` does)."""
    return compact_positions(valid) + past


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
        pruned_cache = cache if isinstance(cache, DuetCache) and cache.duet_prefill.stages and not prune else None

        valid = (
            torch.ones(batch, length, dtype=torch.bool, device=inputs_embeds.device)
            if attention_mask is None
            else attention_mask[:, -length:].bool()
        )
        if position_ids is None:
            if attention_mask is None or past > 0:
                position_ids = torch.arange(past, past + length, device=inputs_embeds.device).unsqueeze(0)
            else:
                position_ids = positions_from_mask(attention_mask.bool(), past)
        position_ids = position_ids.expand(batch, -1)
        unshifted_positions = position_ids

        causal_mask = create_causal_mask(
            config=self.config,
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            cache=cache,
            position_ids=position_ids,
        )
        hidden_states = inputs_embeds
        position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)
        bounds = [0, *(layer for layer, _ in stages), self.config.num_hidden_layers] if (prune or pruned_cache) else [
            0,
            self.config.num_hidden_layers,
        ]
        state: TokenState | None = None
        if prune:
            state = TokenState(
                hidden=hidden_states,
                valid=valid,
                position_ids=position_ids,
                visual=(visual_token_mask if visual_token_mask is not None else torch.zeros_like(valid)) & valid,
                queries=(t2v_queries if t2v_queries is not None else torch.zeros_like(valid)) & valid,
                original_index=torch.arange(length, device=valid.device).expand(batch, -1),
            )
            n0 = state.visual.sum(dim=1).tolist()
        keep_masks: list[torch.Tensor] = []

        for stage in range(len(bounds) - 1):
            if stage > 0:
                layer_idx = bounds[stage]
                if prune:
                    state.hidden = hidden_states
                    scores = score_with_next_layer(self.layers[layer_idx], state, position_embeddings)
                    before = state.valid.sum(dim=1)
                    state = drop_visual_tokens(
                        state,
                        scores,
                        n0,
                        stages[stage - 1][1],
                        padding_side,
                        compact=self.duet.position_ids == "compact",
                    )
                    dropped = before - state.valid.sum(dim=1)
                    previous = cache.duet_prefill.stages[-1].dropped_before if cache is not None and stage > 1 else 0
                    if cache is not None:
                        cache.duet_prefill.stages.append(
                            PrunedPrefill(layer_idx, state.valid.clone(), dropped + previous)
                        )
                    kept = torch.zeros(batch, length, dtype=torch.bool, device=valid.device)
                    rows, cols = state.visual.nonzero(as_tuple=True)
                    kept[rows, state.original_index[rows, cols]] = True
                    keep_masks.append(kept)
                    hidden_states, position_ids, stage_mask = state.hidden, state.position_ids, state.valid
                else:
                    record = pruned_cache.duet_prefill.stages[stage - 1]
                    stage_mask = pruned_cache.stage_mask(stage - 1, attention_mask, length)
                    if self.duet.position_ids == "compact":
                        position_ids = unshifted_positions - record.dropped_before.unsqueeze(1)
                causal_mask = create_causal_mask(
                    config=self.config,
                    inputs_embeds=hidden_states,
                    attention_mask=stage_mask,
                    cache=cache,
                    position_ids=position_ids,
                    layer_idx=layer_idx,
                )
                position_embeddings = self.rotary_emb(hidden_states, position_ids=position_ids)
            for decoder_layer in self.layers[bounds[stage] : bounds[stage + 1]]:
                hidden_states = decoder_layer(
                    hidden_states,
                    attention_mask=causal_mask,
                    position_embeddings=position_embeddings,
                    position_ids=position_ids,
                    cache=cache,
                    use_cache=use_cache,
                    **kwargs,
                )

        hidden_states = self.norm(hidden_states)
        return LlavaModelOutput(
            last_hidden_state=hidden_states,
            cache=cache,
            kept_index=state.original_index if prune else None,
            kept_valid=state.valid if prune else None,
            t2v_keep_masks=tuple(keep_masks) if prune else None,
        )


class LlavaLlamaForCausalLM(LlamaForCausalLM):
    """LLaVA-1.5: CLIP tower → (DUET V2V) → projector → spliced into a Llama decoder with (DUET T2V) drops."""

    config: LlavaConfig
    config_class = LlavaConfig
    base_model_prefix = "model"

    def __init__(self, config: LlavaConfig) -> None:
        LlamaPreTrainedModel.__init__(self, config)
        self.model = LlavaLlamaModel(config)
        self.vocab_size = config.vocab_size
        self.lm_head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    # ------------------------------------------------------------------ components
    def get_model(self) -> LlavaLlamaModel:
        return self.model

    def get_vision_tower(self) -> CLIPVisionTower:
        tower = self.model.vision_tower
        if tower is None:
            raise ValueError(
                "This checkpoint has no `mm_vision_tower` in its config: it is a plain language model, not LLaVA."
            )
        return tower

    @property
    def duet(self) -> DuetConfig | None:
        return self.model.duet

    # ------------------------------------------------------------------ DUET host protocol
    def duet_geometry(self) -> tuple[int, int]:
        """(decoder layers, patches per image): what `duet.apply` validates a config against."""
        return self.config.num_hidden_layers, self.get_vision_tower().num_patches

    def enable_duet(self, config: DuetConfig | None) -> None:
        """Turn DUET on (or off with `None`); the setting is saved in `config.json` under `duet`."""
        active = None if config is None or config.is_full else config
        self.model.duet = active
        self.config.duet = active.to_dict() if active is not None else None

    # ------------------------------------------------------------------ vision path
    def encode_images(self, images: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
        """One (n_tokens, hidden) feature tensor per image: tower → V2V (when on) → projector."""
        pixels = flatten_images(images)
        tower = self.get_vision_tower()
        duet = self.model.duet
        if duet is not None and duet.v2v_enabled:
            features = tower.forward_v2v(pixels, duet).tokens
        else:
            features = tower(pixels)
        projected = self.model.mm_projector(features.to(self.model.embed_tokens.weight.dtype))
        return list(projected.unbind(0))

    def _context_length(self) -> int | None:
        return self.config.tokenizer_model_max_length

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        images: torch.Tensor | list[torch.Tensor] | None = None,
        image_sizes: list[tuple[int, int]] | None = None,
        t2v_query_mask: torch.Tensor | None = None,
        visual_token_mask: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> LlavaCausalLMOutput:
        """LLaVA's forward. `images` go with `input_ids` holding one `IMAGE_TOKEN_INDEX` per image.

        `t2v_query_mask` (bool, aligned with `input_ids`, or with `inputs_embeds` when those are given) marks the
        salient query tokens for DUET's `query="salient"` mode. `visual_token_mask` marks the visual positions of
        pre-spliced `inputs_embeds` (what `generate` passes after splicing once).
        """
        prefill = cache is None or cache.get_seq_length() == 0
        sequence = input_ids if input_ids is not None else inputs_embeds
        if t2v_query_mask is not None and prefill and t2v_query_mask.shape[1] < sequence.shape[1]:
            # A mask built for the prompt, reused on prompt + generated tokens: generated tokens are no queries.
            t2v_query_mask = torch.nn.functional.pad(t2v_query_mask.bool(), (0, sequence.shape[1] - t2v_query_mask.shape[1]))
        padding_side = self.config.tokenizer_padding_side
        if attention_mask is not None and prefill:
            padding_side = detect_padding_side(attention_mask, padding_side)
        if input_ids is not None and (images is not None or bool((input_ids == IMAGE_TOKEN_INDEX).any())):
            spliced = self.prepare_multimodal_inputs(input_ids, attention_mask, labels, images, t2v_query_mask, padding_side)
            inputs_embeds, attention_mask, labels = spliced.inputs_embeds, spliced.attention_mask, spliced.labels
            visual_token_mask, t2v_query_mask = spliced.visual_token_mask, spliced.t2v_query_mask
            input_ids, position_ids = None, None
        elif input_ids is not None and self.training and self.model.vision_tower is not None:
            inputs_embeds = self.model.embed_tokens(input_ids) + self._unused_vision_path()
            input_ids = None

        t2v_queries = None
        if prefill and self.model.t2v_stages():
            batch, length = (inputs_embeds if inputs_embeds is not None else input_ids).shape[:2]
            valid = (
                attention_mask.bool()
                if attention_mask is not None
                else torch.ones(batch, length, dtype=torch.bool, device=self.lm_head.weight.device)
            )
            visual_token_mask = visual_token_mask if visual_token_mask is not None else torch.zeros_like(valid)
            t2v_queries = resolve_t2v_queries(self.model.duet.query, visual_token_mask, valid, labels, t2v_query_mask)

        outputs: LlavaModelOutput = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            visual_token_mask=visual_token_mask if prefill else None,
            t2v_queries=t2v_queries,
            padding_side=padding_side,
            **kwargs,
        )
        hidden_states = outputs.last_hidden_state
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden_states[:, slice_indices, :])

        loss = None
        if labels is not None:
            if outputs.kept_index is not None:
                labels = labels.gather(1, outputs.kept_index).masked_fill(~outputs.kept_valid, IGNORE_INDEX)
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)

        return LlavaCausalLMOutput(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            kept_index=outputs.kept_index,
            kept_valid=outputs.kept_valid,
            t2v_keep_masks=outputs.t2v_keep_masks,
            visual_token_mask=visual_token_mask if prefill else None,
        )

    def _unused_vision_path(self) -> torch.Tensor:
        """A zero that depends on every vision/projector parameter LLaVA would use.

        Under ZeRO-3 each rank must run the same modules on every step; a text-only batch on one rank while another
        rank sees images would otherwise hang the job. LLaVA achieves this with `image_features[0:0]`; here the
        tower and projector run on one blank image whose contribution is multiplied by zero.
        """
        tower = self.get_vision_tower()
        size = tower.config.image_size
        blank = torch.zeros(1, 3, size, size, device=self.lm_head.weight.device, dtype=tower.dtype)
        return self.encode_images(blank)[0].sum() * 0.0

    def prepare_multimodal_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None,
        images: torch.Tensor | list[torch.Tensor] | None,
        t2v_query_mask: torch.Tensor | None,
        padding_side: str,
    ):
        """Encode the images and splice them into the embeddings (see `splice_image_features`)."""
        features = self.encode_images(images) if images is not None and len(flatten_images(images)) else []
        return splice_image_features(
            input_ids,
            attention_mask,
            labels,
            t2v_query_mask,
            features,
            self.model.embed_tokens,
            padding_side,
            self._context_length(),
        )

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(
        self,
        inputs: torch.Tensor | None = None,
        images: torch.Tensor | list[torch.Tensor] | None = None,
        image_sizes: list[tuple[int, int]] | None = None,
        t2v_query_mask: torch.Tensor | None = None,
        **kwargs,
    ):
        """LLaVA's `generate(input_ids, images=...)`: splice once, then decode from `inputs_embeds` with the KV cache.

        As in LLaVA, the returned ids are only the new tokens. Batches must be left-padded.
        """
        if kwargs.get("inputs_embeds") is not None:
            raise ValueError("Pass `inputs` (token ids with <image> placeholders), not `inputs_embeds`.")
        attention_mask = kwargs.pop("attention_mask", None)
        padding_side = detect_padding_side(attention_mask, "left") if attention_mask is not None else "left"
        if padding_side != "left":
            raise ValueError("Batched generation needs left padding (tokenizer.padding_side = 'left').")
        spliced = self.prepare_multimodal_inputs(inputs, attention_mask, None, images, t2v_query_mask, "left")
        max_new = kwargs.get("max_new_tokens")
        context = self._context_length()
        if context is not None and max_new is not None and spliced.inputs_embeds.shape[1] >= context:
            raise ValueError(
                f"The prompt is {spliced.inputs_embeds.shape[1]} positions long with its image features, which "
                f"leaves no room in the context of {context} (tokenizer_model_max_length)."
            )
        extra = {"t2v_query_mask": spliced.t2v_query_mask} if spliced.t2v_query_mask is not None else {}
        return super().generate(
            inputs_embeds=spliced.inputs_embeds,
            attention_mask=spliced.attention_mask,
            visual_token_mask=spliced.visual_token_mask,
            **extra,
            **kwargs,
        )

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str, *args, state_dict: dict | None = None, **kwargs) -> None:
        """Save in LLaVA's layout: without the vision tower, which loads from `mm_vision_tower`."""
        state_dict = self.state_dict() if state_dict is None else state_dict
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(VISION_TOWER_PREFIX)}
        super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)


def flatten_images(images: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    """(N, 3, H, W) from a 4-D or 5-D tensor, or a list of (3, H, W) / (n, 3, H, W) tensors, in placeholder order."""
    if isinstance(images, torch.Tensor):
        return images.flatten(0, images.dim() - 4) if images.dim() > 4 else images
    if len(images) == 0:
        return torch.empty(0)
    return torch.cat([image if image.dim() == 4 else image.unsqueeze(0) for image in images])


AutoConfig.register(LLAVA_MODEL_TYPE, LlavaConfig)
AutoModelForCausalLM.register(LlavaConfig, LlavaLlamaForCausalLM)
