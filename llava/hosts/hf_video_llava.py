"""transformers' own `VideoLlavaForConditionalGeneration` (`LanguageBind/Video-LLaVA-7B-hf`) as a DUET host.

`DuetVideoLlavaForConditionalGeneration` subclasses it and overrides `forward` only (no parameters), so `-hf`
checkpoints load into either class and `duet.apply(model, "video-llava:960")` adopts an already loaded model
through the ``duet.models`` entry point, as for transformers' LLaVA (`llava.hosts.hf_llava`). With DUET off
`forward` is transformers' own, bit for bit.

With DUET on, a prefill (or training step) runs:
1. the image tower on `pixel_values` and the video tower on every frame of `pixel_values_videos` (B, T, C, H, W);
   V2V (`duet.v2v.compress`) on each image and **each frame**, each ranked by its own CLS row at the select layer
   (recomputed on the side); then the shared projector: N0 features per image and per frame;
2. `pack_visual_placeholders`: every image's 256 and every frame's 257 placeholder tokens keep their last N0;
3. the DUET engine over the language model, whose T2V stages rank the visual tokens of a sample **jointly** — all
   frames of a video together — and keep int(N0·r) of them.
The `-hf` video tower is spatial-only (its conversion dropped the temporal weights, Video-LLaVA#223): the CLS row of
each frame is its own spatial attention's, as in the authors' DUET code.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import VideoLlavaForConditionalGeneration
from transformers.cache_utils import Cache
from transformers.models.video_llava.modeling_video_llava import VideoLlavaCausalLMOutputWithPast

from duet.config import DuetConfig
from duet.v2v import compress
from llava.hosts.hf_common import DuetHfHost
from llava.hosts.placeholders import PlaceholderKind
from llava.model.multimodal_encoder.clip_select_layer import clip_select_layer, run_tower


@dataclass
class DuetVideoLlavaOutput(VideoLlavaCausalLMOutputWithPast):
    """transformers' Video-LLaVA output plus where the logit positions came from (see `duet.engine.EngineOutput`)."""

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None
    visual_token_mask: torch.Tensor | None = None


class DuetVideoLlavaForConditionalGeneration(DuetHfHost, VideoLlavaForConditionalGeneration):
    """`VideoLlavaForConditionalGeneration` with DUET's two stages; the setting lives in ``config.duet``."""

    duet_adopted_from = VideoLlavaForConditionalGeneration

    # ------------------------------------------------------------------ DUET host protocol
    @property
    def patches_per_frame(self) -> int:
        vision = self.config.vision_config
        return (vision.image_size // vision.patch_size) ** 2

    def duet_geometry(self) -> tuple[int, int]:
        """(decoder layers, patches per image / frame): V2V budgets are per image and per frame."""
        return self.config.text_config.num_hidden_layers, self.patches_per_frame

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.Tensor | None = None,
        pixel_values_images: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        vision_feature_layer: int | list[int] | None = None,
        vision_feature_select_strategy: str | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        t2v_query_mask: torch.Tensor | None = None,
        **kwargs,
    ) -> VideoLlavaCausalLMOutputWithPast:
        """transformers' forward, plus ``t2v_query_mask`` (bool, aligned with ``input_ids``) for salient queries."""
        duet = self.duet
        if pixel_values is None and pixel_values_images is not None:
            pixel_values = pixel_values_images
        if duet is None:
            return super().forward(
                input_ids=input_ids, pixel_values=pixel_values, pixel_values_videos=pixel_values_videos,
                attention_mask=attention_mask, position_ids=position_ids, cache=cache, inputs_embeds=inputs_embeds,
                vision_feature_layer=vision_feature_layer, vision_feature_select_strategy=vision_feature_select_strategy,
                labels=labels, use_cache=use_cache, logits_to_keep=logits_to_keep, **kwargs,
            )  # fmt: skip
        if vision_feature_layer is not None or vision_feature_select_strategy is not None:
            raise ValueError("Under DUET the vision feature layer and strategy come from the model config.")

        def kinds() -> list[PlaceholderKind]:
            images = self._image_features(pixel_values, duet)
            frames = self._frame_features(pixel_values_videos, duet)
            return [
                PlaceholderKind(self.config.image_token_id, self._image_placeholders(), images, "image"),
                PlaceholderKind(self.config.video_token_id, self.patches_per_frame + 1, frames, "video frame"),
            ]

        return self._duet_forward(
            duet, input_ids, attention_mask, position_ids, cache, inputs_embeds, labels, use_cache, logits_to_keep,
            t2v_query_mask, kinds, DuetVideoLlavaOutput, kwargs,
        )  # fmt: skip

    def _image_placeholders(self) -> int:
        return self.patches_per_frame + (1 if self.config.vision_feature_select_strategy == "full" else 0)

    def _image_features(self, pixel_values: torch.Tensor | None, duet: DuetConfig) -> torch.Tensor:
        """(images, N0 or 256, hidden): V2V at the image tower's select layer when on, then the projector."""
        if pixel_values is None:
            return self._empty_features()
        if not duet.v2v_enabled:
            return self.model.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output
        tower = self.model.image_tower
        layer = clip_select_layer(run_tower(tower, pixel_values), tower, self.config.vision_feature_layer)
        return self.model.multi_modal_projector(compress(layer, duet).tokens)

    def _frame_features(self, pixel_values_videos: torch.Tensor | None, duet: DuetConfig) -> torch.Tensor:
        """(videos x frames, N0 or 257, hidden): each frame on its own through V2V, then the projector."""
        if pixel_values_videos is None:
            return self._empty_features()
        if not duet.v2v_enabled:
            features = self.model.get_video_features(pixel_values_videos=pixel_values_videos, return_dict=True)
            return features.pooler_output
        frames = pixel_values_videos.flatten(0, 1)
        tower = self.model.video_tower
        layer = clip_select_layer(run_tower(tower, frames), tower, self.config.vision_feature_layer)
        return self.model.multi_modal_projector(compress(layer, duet).tokens)
