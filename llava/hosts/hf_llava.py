"""transformers' own `LlavaForConditionalGeneration` (llava-hf checkpoints) as a DUET host.

`DuetLlavaForConditionalGeneration` subclasses it and overrides `forward` only; it adds no parameters, so a
checkpoint loads into either class unchanged, and `duet.apply(model, preset)` adopts an already loaded
`LlavaForConditionalGeneration` by switching its class (the pattern `torch.nn.utils.parametrize` uses), found
through the ``duet.models`` entry point. With DUET off `forward` is transformers' own, bit for bit.

With DUET on, a prefill (or training step) runs:
1. the vision tower once; V2V (`duet.v2v.compress`) on its select layer, then the projector: N0 features per image;
2. `pack_visual_placeholders`: each image's 576 placeholder tokens (what `LlavaProcessor` inserts) shrink to N0;
3. the DUET engine over the language model (`LlamaDecoderAdapter`), with T2V drops and next-token targets.
Decode steps replay the cached stages (`duet.engine.decode`). Logits cover the positions that reached the last
layer, as with our LLaVA host; ``kept_index`` maps them back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import LlavaForConditionalGeneration
from transformers.cache_utils import Cache
from transformers.models.llava.modeling_llava import LlavaCausalLMOutputWithPast

from duet.config import DuetConfig
from duet.v2v import compress
from llava.hosts.hf_common import DuetHfHost
from llava.hosts.placeholders import PlaceholderKind
from llava.model.multimodal_encoder.clip_select_layer import clip_select_layer, run_tower


@dataclass
class DuetLlavaOutput(LlavaCausalLMOutputWithPast):
    """transformers' LLaVA output plus where the logit positions came from (see `duet.engine.EngineOutput`)."""

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None
    visual_token_mask: torch.Tensor | None = None


class DuetLlavaForConditionalGeneration(DuetHfHost, LlavaForConditionalGeneration):
    """`LlavaForConditionalGeneration` with DUET's two stages; the setting lives in ``config.duet``."""

    duet_adopted_from = LlavaForConditionalGeneration

    @property
    def placeholders_per_image(self) -> int:
        vision = self.config.vision_config
        patches = (vision.image_size // vision.patch_size) ** 2
        return patches + (1 if self.config.vision_feature_select_strategy == "full" else 0)

    def duet_geometry(self) -> tuple[int, int]:
        vision = self.config.vision_config
        return self.config.text_config.num_hidden_layers, (vision.image_size // vision.patch_size) ** 2

    def enable_duet(self, config: DuetConfig | None) -> None:
        if config is not None and config.v2v_enabled and not hasattr(self.model.vision_tower, "encoder"):
            raise ValueError(
                f"duet.apply(LlavaForConditionalGeneration): the vision tower is a "
                f"{type(self.model.vision_tower).__name__}, not a CLIP-style ViT with a CLS token; V2V ranks patches "
                "by CLS attention. Use a T2V-only preset (pdrop:*, fastv:*)."
            )
        super().enable_duet(config)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        vision_feature_layer: int | list[int] | None = None,
        vision_feature_select_strategy: str | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        image_sizes: torch.Tensor | None = None,
        t2v_query_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> LlavaCausalLMOutputWithPast:
        """transformers' forward, plus ``t2v_query_mask`` (bool, aligned with ``input_ids``) for salient queries."""
        duet = self.duet
        if duet is None:
            return super().forward(
                input_ids=input_ids, pixel_values=pixel_values, attention_mask=attention_mask,
                position_ids=position_ids, cache=cache, inputs_embeds=inputs_embeds,
                vision_feature_layer=vision_feature_layer, vision_feature_select_strategy=vision_feature_select_strategy,
                labels=labels, logits_to_keep=logits_to_keep, image_sizes=image_sizes, **kwargs,
            )  # fmt: skip
        if vision_feature_layer is not None or vision_feature_select_strategy is not None:
            raise ValueError("Under DUET the vision feature layer and strategy come from the model config.")

        def kinds() -> list[PlaceholderKind]:
            features = self._image_features(pixel_values, duet)
            return [PlaceholderKind(self.config.image_token_id, self.placeholders_per_image, features, "image")]

        return self._duet_forward(
            duet, input_ids, attention_mask, position_ids, cache, inputs_embeds, labels, kwargs.pop("use_cache", None),
            logits_to_keep, t2v_query_mask, kinds, DuetLlavaOutput, kwargs,
        )  # fmt: skip

    def _image_features(self, pixel_values: torch.Tensor | None, duet: DuetConfig) -> torch.Tensor:
        """(images, N0 or placeholders per image, hidden): V2V at the select layer when on, then the projector."""
        if pixel_values is None:
            return self._empty_features()
        if not duet.v2v_enabled:
            features = self.model.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output
            return torch.stack(list(features))
        tower = self.model.vision_tower
        layer = clip_select_layer(run_tower(tower, pixel_values), tower, self.config.vision_feature_layer)
        return self.model.multi_modal_projector(compress(layer, duet).tokens)
