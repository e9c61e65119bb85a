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

from duet import engine
from duet.cache import DuetCache
from duet.config import DuetConfig
from duet.queries import resolve_queries
from duet.v2v import compress
from llava.hosts.llama_decoder import LlamaDecoderAdapter, check_llama_decoder
from llava.hosts.outputs import causal_lm_loss, engine_layer_kwargs
from llava.hosts.video_placeholders import PlaceholderKind, pack_visual_placeholders
from llava.model.multimodal_encoder.clip_select_layer import clip_select_layer, run_tower


@dataclass
class DuetVideoLlavaOutput(VideoLlavaCausalLMOutputWithPast):
    """transformers' Video-LLaVA output plus where the logit positions came from (see `duet.engine.EngineOutput`)."""

    kept_index: torch.Tensor | None = None
    kept_valid: torch.Tensor | None = None
    t2v_keep_masks: tuple[torch.Tensor, ...] | None = None
    visual_token_mask: torch.Tensor | None = None


class DuetVideoLlavaForConditionalGeneration(VideoLlavaForConditionalGeneration):
    """`VideoLlavaForConditionalGeneration` with DUET's two stages; the setting lives in ``config.duet``."""

    duet_adopted_from = VideoLlavaForConditionalGeneration

    # ------------------------------------------------------------------ DUET host protocol
    @property
    def duet(self) -> DuetConfig | None:
        stored = getattr(self.config, "duet", None)
        return DuetConfig.from_dict(stored) if stored else None

    @property
    def patches_per_frame(self) -> int:
        vision = self.config.vision_config
        return (vision.image_size // vision.patch_size) ** 2

    def duet_geometry(self) -> tuple[int, int]:
        """(decoder layers, patches per image / frame): V2V budgets are per image and per frame."""
        return self.config.text_config.num_hidden_layers, self.patches_per_frame

    def enable_duet(self, config: DuetConfig | None) -> None:
        """Validate the layout for ``config`` and store it in ``config.duet`` (None turns DUET off)."""
        if config is not None:
            if config.v2v_enabled and not isinstance(self.config.vision_feature_layer, int):
                raise ValueError(
                    f"duet.apply(VideoLlavaForConditionalGeneration): vision_feature_layer="
                    f"{self.config.vision_feature_layer!r} concatenates layers; V2V ranks one select layer (use -2)."
                )
            if config.t2v_enabled:
                check_llama_decoder(self.model.language_model, "VideoLlavaForConditionalGeneration")
        self.config.duet = config.to_dict() if config is not None else None

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
        decoder = LlamaDecoderAdapter(self.model.language_model)
        if cache is not None and cache.get_seq_length() > 0:
            if not isinstance(cache, DuetCache):
                raise ValueError("A DUET decode step needs the DuetCache its prefill returned (`outputs.cache`).")
            hidden = self.model.get_input_embeddings()(input_ids) if inputs_embeds is None else inputs_embeds
            hidden = engine.decode(decoder, hidden, attention_mask, position_ids, cache, **engine_layer_kwargs(kwargs))
            return DuetVideoLlavaOutput(logits=self.lm_head(hidden), cache=cache)
        if input_ids is None:
            raise ValueError(
                "Under DUET, pass input_ids (the placeholders locate images and videos), not inputs_embeds."
            )
        if use_cache is None:
            use_cache = bool(self.config.text_config.use_cache) and not self.training
        kinds = [
            PlaceholderKind(self.config.image_token_id, self._image_placeholders(), self._image_features(pixel_values, duet), "image"),
            PlaceholderKind(self.config.video_token_id, self.patches_per_frame + 1, self._frame_features(pixel_values_videos, duet), "video frame"),
        ]  # fmt: skip
        packed = pack_visual_placeholders(
            input_ids, attention_mask, labels, t2v_query_mask, self.model.get_input_embeddings()(input_ids), kinds
        )
        batch = engine.PrefillBatch(
            hidden=packed.hidden,
            valid=packed.valid,
            visual=packed.visual,
            queries=(
                resolve_queries(duet.query, packed.visual, packed.valid, packed.labels, packed.marked)
                if duet.t2v_enabled
                else torch.zeros_like(packed.valid)  # no T2V stage reads them (e.g. visionzip:*, V2V only)
            ),
            labels=packed.labels,
            position_ids=packed.position_ids,
            shape=packed.shape,
            input_length=input_ids.shape[1],
            pack_shift=packed.pack_shift,
        )
        out = engine.prefill(decoder, duet, batch, use_cache=bool(use_cache), **engine_layer_kwargs(kwargs))
        hidden = out.hidden[:, -logits_to_keep:] if isinstance(logits_to_keep, int) and logits_to_keep else out.hidden
        logits = self.lm_head(hidden)
        return DuetVideoLlavaOutput(
            loss=causal_lm_loss(self.loss_function, logits, out.targets, self.config.text_config.vocab_size, kwargs),
            logits=logits,
            cache=out.cache,
            kept_index=out.kept_index,
            kept_valid=out.kept_valid,
            t2v_keep_masks=out.keep_masks,
            visual_token_mask=packed.visual,
        )

    def _image_placeholders(self) -> int:
        return self.patches_per_frame + (1 if self.config.vision_feature_select_strategy == "full" else 0)

    def _empty(self) -> torch.Tensor:
        return torch.zeros(0, 0, self.config.text_config.hidden_size, device=self.device, dtype=self.dtype)

    def _image_features(self, pixel_values: torch.Tensor | None, duet: DuetConfig) -> torch.Tensor:
        """(images, N0 or 256, hidden): V2V at the image tower's select layer when on, then the projector."""
        if pixel_values is None:
            return self._empty()
        if not duet.v2v_enabled:
            return self.model.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output
        tower = self.model.image_tower
        layer = clip_select_layer(run_tower(tower, pixel_values), tower, self.config.vision_feature_layer)
        return self.model.multi_modal_projector(compress(layer, duet).tokens)

    def _frame_features(self, pixel_values_videos: torch.Tensor | None, duet: DuetConfig) -> torch.Tensor:
        """(videos x frames, N0 or 257, hidden): each frame on its own through V2V, then the projector."""
        if pixel_values_videos is None:
            return self._empty()
        if not duet.v2v_enabled:
            features = self.model.get_video_features(pixel_values_videos=pixel_values_videos, return_dict=True)
            return features.pooler_output
        frames = pixel_values_videos.flatten(0, 1)
        tower = self.model.video_tower
        layer = clip_select_layer(run_tower(tower, frames), tower, self.config.vision_feature_layer)
        return self.model.multi_modal_projector(compress(layer, duet).tokens)
