"""LLaVA-1.5 on Llama (`LlavaLlamaForCausalLM`), with DUET's two stages at their insertion points.

The vision tower → (V2V) → projector path and the splice of image features into the embeddings live here; the
decoder loop with the T2V stages is `LlavaLlamaModel` (`llava_llama_model.py`). With DUET off the model reproduces
`LlamaForCausalLM` (no images) and transformers' `LlavaForConditionalGeneration` (images) exactly.
"""

from dataclasses import dataclass

import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlamaForCausalLM
from transformers.cache_utils import Cache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.models.llama.modeling_llama import LlamaPreTrainedModel

from duet.config import DuetConfig
from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.model.configuration_llava import LLAVA_MODEL_TYPE, LlavaConfig
from llava.model.language_model.llava_llama_model import LlavaLlamaModel, LlavaModelOutput
from llava.model.multimodal_encoder.clip_encoder import CLIPVisionTower
from llava.model.multimodal_inputs import detect_padding_side, splice_image_features
from llava.model.t2v_queries import resolve_t2v_queries

VISION_TOWER_PREFIX = "model.vision_tower."


@dataclass
class LlavaCausalLMOutput(CausalLMOutputWithPast):
    """`CausalLMOutputWithPast` plus DUET's bookkeeping (see `LlavaModelOutput`) and the spliced visual mask."""

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None
    visual_token_mask: torch.Tensor | None = None


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
            # Vision path first, as in the image branch, so that ZeRO-3 ranks gather parameters in the same order.
            vision_zero = self._unused_vision_path(input_ids.device)
            inputs_embeds = self.model.embed_tokens(input_ids) + vision_zero
            input_ids = None

        t2v_queries = None
        if prefill and self.model.t2v_stages():
            sequence = inputs_embeds if inputs_embeds is not None else input_ids
            valid = (
                attention_mask.bool()
                if attention_mask is not None
                else torch.ones(sequence.shape[:2], dtype=torch.bool, device=sequence.device)
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
