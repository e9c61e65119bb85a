"""LLaVA-1.5 on Llama (`LlavaLlamaForCausalLM`), a DUET host.

The vision tower → (V2V) → projector path and the splice of image features into the embeddings live here. The
decoder is transformers' `LlamaModel` (`LlavaLlamaModel` only adds the vision modules): with DUET's T2V stages off it
runs as is, so the model reproduces `LlamaForCausalLM` (no images) and transformers' `LlavaForConditionalGeneration`
(images) exactly; with them on, `duet.engine` runs the same layers in stages through a `LlamaDecoderAdapter`.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForCausalLM, LlamaForCausalLM
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.llama.modeling_llama import LlamaPreTrainedModel

from duet import engine
from duet.cache import DuetCache
from duet.config import DuetConfig
from duet.queries import resolve_queries
from duet.tokens import BatchShape, compact_positions, read_batch_shape
from llava.hosts.llama_decoder import LlamaDecoderAdapter, check_llama_decoder
from llava.hosts.outputs import causal_lm_loss, engine_layer_kwargs
from llava.model.configuration_llava import LLAVA_MODEL_TYPE, LlavaConfig
from llava.model.language_model.llava_llama_model import LlavaLlamaModel
from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower
from llava.model.multimodal_inputs import SplicedInputs, splice_image_features

VISION_TOWER_PREFIX = "model.vision_tower."


@dataclass
class LlavaCausalLMOutput(CausalLMOutputWithPast):
    """`CausalLMOutputWithPast` plus DUET's bookkeeping and the spliced visual mask.

    ``kept_index`` (B, L') maps each logit position to its spliced position (valid where ``kept_valid``);
    ``t2v_keep_masks`` holds, per T2V stage, the (B, L) mask of visual positions that survived it.
    """

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None
    visual_token_mask: torch.Tensor | None = None


class LlavaLlamaForCausalLM(LlamaForCausalLM):
    """LLaVA-1.5: CLIP tower → (DUET V2V) → projector → spliced into a Llama decoder with (DUET T2V) drops."""

    config: LlavaConfig
    config_class = LlavaConfig
    base_model_prefix = "model"

    model_class: type[LlavaLlamaModel] = LlavaLlamaModel
    """The decoder-plus-vision module; Video-LLaVA's host swaps in one with two towers."""

    def __init__(self, config: LlavaConfig) -> None:
        LlamaPreTrainedModel.__init__(self, config)
        self.model = self.model_class(config)
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
        if active is not None and active.t2v_enabled:
            check_llama_decoder(self.model, type(self).__name__)
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

    def has_vision_path(self) -> bool:
        """Whether the model takes images at all (a LLaVA checkpoint without `mm_vision_tower` is a plain LM)."""
        return self.model.vision_tower is not None

    def count_visual_inputs(self, images: torch.Tensor | list[torch.Tensor] | None) -> int:
        """How many images `images` holds (hosts with other visual inputs, e.g. Video-LLaVA's videos, override)."""
        return 0 if images is None else len(flatten_images(images))

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
        batch_counts: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> LlavaCausalLMOutput:
        """LLaVA's forward. `images` go with `input_ids` holding one `IMAGE_TOKEN_INDEX` per image.

        `t2v_query_mask` (bool, aligned with `input_ids`, or with `inputs_embeds` when those are given) marks the
        salient query tokens for DUET's `query="salient"` mode. `visual_token_mask` marks the visual positions of
        pre-spliced `inputs_embeds`, and `batch_counts` (B, 2) on the CPU their valid and visual counts per sample
        (what `generate` passes after splicing once, so the prefill needs no second device sync).
        """
        if cache is not None and cache.get_seq_length() > 0:
            return self._decode(input_ids, attention_mask, position_ids, cache, inputs_embeds, use_cache, logits_to_keep, kwargs)
        spliced = self._prefill_inputs(
            input_ids, attention_mask, inputs_embeds, labels, images, t2v_query_mask, visual_token_mask, batch_counts
        )
        if spliced is None:  # a plain language model: Llama's own forward
            outputs = self.model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                inputs_embeds=inputs_embeds, use_cache=use_cache, **kwargs,
            )  # fmt: skip
            return self._lm_output(outputs.last_hidden_state, outputs, labels, None, logits_to_keep, kwargs)
        if position_ids is None:
            position_ids = compact_positions(spliced.attention_mask.bool())
        duet = self.model.duet
        if duet is None or not duet.t2v_enabled:
            outputs = self.model(
                inputs_embeds=spliced.inputs_embeds, attention_mask=spliced.attention_mask, position_ids=position_ids,
                cache=cache, use_cache=use_cache, **kwargs,
            )  # fmt: skip
            return self._lm_output(outputs.last_hidden_state, outputs, spliced.labels, spliced, logits_to_keep, kwargs)
        valid = spliced.attention_mask.bool()
        batch = engine.PrefillBatch(
            hidden=spliced.inputs_embeds,
            valid=valid,
            visual=spliced.visual_token_mask,
            queries=resolve_queries(duet.query, spliced.visual_token_mask, valid, spliced.labels, spliced.t2v_query_mask),
            labels=spliced.labels,
            position_ids=position_ids,
            shape=spliced.shape,
            input_length=valid.shape[1],
        )
        out = engine.prefill(LlamaDecoderAdapter(self.model), duet, batch, use_cache=bool(use_cache), **engine_layer_kwargs(kwargs))
        hidden = out.hidden[:, -logits_to_keep:] if isinstance(logits_to_keep, int) and logits_to_keep else out.hidden
        logits = self.lm_head(hidden)
        loss = causal_lm_loss(self.loss_function, logits, out.targets, self.config.vocab_size, kwargs)
        return LlavaCausalLMOutput(
            loss=loss,
            logits=logits,
            cache=out.cache,
            kept_index=out.kept_index,
            kept_valid=out.kept_valid,
            t2v_keep_masks=out.keep_masks,
            visual_token_mask=spliced.visual_token_mask,
        )

    def _decode(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        cache: Cache,
        inputs_embeds: torch.Tensor | None,
        use_cache: bool | None,
        logits_to_keep: int | torch.Tensor,
        kwargs: dict,
    ) -> LlavaCausalLMOutput:
        """A decode step: on a DUET cache through the engine's recorded stages, otherwise Llama's own forward."""
        if not isinstance(cache, DuetCache):
            outputs = self.model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
                inputs_embeds=inputs_embeds, use_cache=use_cache, **kwargs,
            )  # fmt: skip
            return self._lm_output(outputs.last_hidden_state, outputs, None, None, logits_to_keep, kwargs)
        hidden = self.model.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        hidden = engine.decode(
            LlamaDecoderAdapter(self.model), hidden, attention_mask, position_ids, cache, **engine_layer_kwargs(kwargs)
        )
        return LlavaCausalLMOutput(logits=self.lm_head(hidden), cache=cache)

    def _lm_output(
        self,
        hidden: torch.Tensor,
        outputs,
        labels: torch.Tensor | None,
        spliced: SplicedInputs | None,
        logits_to_keep: int | torch.Tensor,
        kwargs: dict,
    ) -> LlavaCausalLMOutput:
        """Logits and loss from Llama's own forward (no position was dropped, so the labels shift as usual)."""
        slice_indices = slice(-logits_to_keep, None) if isinstance(logits_to_keep, int) else logits_to_keep
        logits = self.lm_head(hidden[:, slice_indices, :])
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.vocab_size, **kwargs)
        return LlavaCausalLMOutput(
            loss=loss,
            logits=logits,
            cache=outputs.cache,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            visual_token_mask=spliced.visual_token_mask if spliced is not None else None,
        )

    def _prefill_inputs(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        labels: torch.Tensor | None,
        images: torch.Tensor | list[torch.Tensor] | None,
        t2v_query_mask: torch.Tensor | None,
        visual_token_mask: torch.Tensor | None,
        batch_counts: torch.Tensor | None,
    ) -> SplicedInputs | None:
        """The prefill in embedding coordinates, with its batch shape (one device sync), or None for a plain LM."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        sequence = input_ids if input_ids is not None else inputs_embeds
        if t2v_query_mask is not None and t2v_query_mask.shape[1] < sequence.shape[1]:
            # A mask built for the prompt, reused on prompt + generated tokens: generated tokens are no queries.
            t2v_query_mask = F.pad(t2v_query_mask.bool(), (0, sequence.shape[1] - t2v_query_mask.shape[1]))
        if input_ids is not None:
            if not self.has_vision_path():
                if images is not None:
                    raise ValueError("This checkpoint has no vision tower (no `mm_vision_tower`): it cannot take images.")
                return None
            vision_zero = None
            if self.training and self.count_visual_inputs(images) == 0:
                # Vision path first, as in the image branch, so that ZeRO-3 ranks gather parameters in the same order.
                vision_zero = self._unused_vision_path(input_ids.device)
            spliced = self.prepare_multimodal_inputs(
                input_ids, attention_mask, labels, images, t2v_query_mask, self.config.tokenizer_padding_side
            )
            if vision_zero is not None:
                spliced.inputs_embeds = spliced.inputs_embeds + vision_zero
            return spliced
        valid = (
            attention_mask.bool()
            if attention_mask is not None
            else torch.ones(inputs_embeds.shape[:2], dtype=torch.bool, device=inputs_embeds.device)
        )
        visual = visual_token_mask.bool() if visual_token_mask is not None else torch.zeros_like(valid)
        if batch_counts is not None:
            counts = batch_counts.tolist()  # a CPU tensor: no device sync
            shape = BatchShape(tuple(c[0] for c in counts), tuple(c[1] for c in counts), "left")
        else:
            shape = read_batch_shape(valid, visual)
        return SplicedInputs(inputs_embeds, valid.long(), labels, visual, t2v_query_mask, shape)

    def _unused_vision_path(self, device: torch.device) -> torch.Tensor:
        """A zero that depends on every vision/projector parameter LLaVA would use.

        Under ZeRO-3 each rank must run the same modules on every step; a text-only batch on one rank while another
        rank sees images would otherwise hang the job. LLaVA achieves this with `image_features[0:0]`; here the
        tower and projector run on one blank image whose contribution is multiplied by zero.
        """
        tower = self.get_vision_tower()
        size = tower.config.image_size
        # `device` is passed in: reading `lm_head.weight` here would gather it under ZeRO-3 on this rank only.
        blank = torch.zeros(1, 3, size, size, device=device, dtype=tower.dtype)
        return self.encode_images(blank)[0].sum() * 0.0

    def prepare_multimodal_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None,
        images: torch.Tensor | list[torch.Tensor] | None,
        t2v_query_mask: torch.Tensor | None,
        default_padding_side: str,
    ) -> SplicedInputs:
        """Encode the images and splice them into the embeddings (see `splice_image_features`)."""
        features = self.encode_images(images) if self.count_visual_inputs(images) else []
        return splice_image_features(
            input_ids,
            attention_mask,
            labels,
            t2v_query_mask,
            features,
            self.model.embed_tokens,
            default_padding_side,
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
        spliced = self.prepare_multimodal_inputs(inputs, attention_mask, None, images, t2v_query_mask, "left")
        if spliced.shape.padding_side != "left":
            raise ValueError("Batched generation needs left padding (tokenizer.padding_side = 'left').")
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
            batch_counts=torch.tensor([spliced.shape.valid, spliced.shape.visual]).T.contiguous(),
            **extra,
            **kwargs,
        )

    # ------------------------------------------------------------------ saving
    def save_pretrained(self, save_directory: str, *args, state_dict: dict | None = None, **kwargs) -> None:
        """Save in LLaVA's layout: without the vision tower, which loads from `mm_vision_tower`.

        A tower whose weights were loaded from a checkpoint (not from `mm_vision_tower`) is saved with the model, or
        the saved copy would load back a different tower. Keys are always written in this layout: transformers would
        otherwise write them back in the layout the model was loaded from (a llava-hf checkpoint's, through the
        loader's `key_mapping`), which is not a LLaVA checkpoint.
        """
        kwargs.setdefault("save_original_format", False)
        state_dict = self.state_dict() if state_dict is None else state_dict
        tower = self.model.vision_tower
        if tower is None or not tower.weights_in_checkpoint:
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
