"""Video-LLaVA in its original layout (`LanguageBind/Video-LLaVA-7B`): two LanguageBind towers, one projector.

The language side is LLaVA-1.5's (`LlavaLlamaForCausalLM`: splice, decoder loop with DUET's T2V stages, generation);
this class only changes what the placeholders are filled with (Video-LLaVA's `llava_arch.py`):

- an image is one `<image>` placeholder (IMAGE_TOKEN_INDEX, −200) and 256 features (CLS dropped);
- a video is **one placeholder per frame** — the prompt holds `"<image>" * 8` — and each frame's 257 features (CLS
  kept) fill its own placeholder, so a video puts 8 × 257 = 2056 tokens into the LLM.

Visual inputs follow the original's convention: `images` is a list in placeholder order whose entries are images
(3, H, W) or videos (C, T, H, W); a (N, 3, H, W) tensor is N images and a (B, C, T, H, W) tensor is B videos. Image
and video samples mix in one batch. Both towers and the projector are frozen / trained exactly as the original does
it, and both towers' weights live in the checkpoint (`model.image_tower.image_tower.*`, `model.video_tower.video_tower.*`).

DUET: V2V runs per image and per frame; T2V ranks all visual positions of a sample together, so for a video it
keeps `int(N0·r)` of all frames' tokens jointly (the decoder loop treats every visual position alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from llava.model.configuration_video_llava import VIDEO_LLAVA_MODEL_TYPE, VideoLlavaLlamaConfig
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM
from llava.model.language_model.llava_llama_model import LlavaLlamaModel
from llava.model.multimodal_encoder.languagebind import languagebind_vision_config
from llava.model.multimodal_encoder.video_llava_towers import (
    LanguageBindImageTower,
    LanguageBindTower,
    LanguageBindVideoTower,
)
from llava.model.multimodal_inputs import SplicedInputs, splice_image_features
from llava.model.multimodal_projector.builder import build_vision_projector


@dataclass(frozen=True)
class VisualItem:
    """One image (3, H, W) or one video (T, C, H, W, frames first) in placeholder order."""

    kind: Literal["image", "video"]
    pixels: torch.Tensor

    @property
    def placeholders(self) -> int:
        return 1 if self.kind == "image" else self.pixels.shape[0]


def split_visual_inputs(images: torch.Tensor | list[torch.Tensor] | None) -> list[VisualItem]:
    """Images and videos in placeholder order, from any of the accepted input forms (module docstring)."""
    if images is None:
        return []
    if isinstance(images, torch.Tensor):
        if images.dim() == 4:
            return [VisualItem("image", image) for image in images]
        if images.dim() == 5:
            return [VisualItem("video", video.transpose(0, 1)) for video in images]
        raise ValueError(
            f"`images` is a {images.dim()}-D tensor; pass (N, 3, H, W) images, (B, C, T, H, W) videos, or a list of "
            "(3, H, W) images and (C, T, H, W) videos in placeholder order."
        )
    items = []
    for index, item in enumerate(images):
        if item.dim() == 3:
            items.append(VisualItem("image", item))
        elif item.dim() == 4:
            items.append(VisualItem("video", item.transpose(0, 1)))
        else:
            raise ValueError(
                f"images[{index}] has shape {tuple(item.shape)}: entries must be an image (3, H, W) or a video "
                "(C, T, H, W), as Video-LLaVA's processors return them."
            )
    return items


class VideoLlavaLlamaModel(LlavaLlamaModel):
    """The Llama decoder plus `image_tower`, `video_tower` and the shared `mm_projector`."""

    config: VideoLlavaLlamaConfig
    # Released checkpoints were saved by transformers 4.31, which stored RoPE's `inv_freq` buffers.
    _keys_to_ignore_on_load_unexpected = [r"rotary_emb\.inv_freq"]

    def __init__(self, config: VideoLlavaLlamaConfig) -> None:
        super().__init__(config)
        if config.mm_image_tower is None and config.mm_video_tower is None:
            raise ValueError(
                "A Video-LLaVA config needs `mm_image_tower` and/or `mm_video_tower`; neither is set. Fix: load a "
                "Video-LLaVA checkpoint through load_pretrained_model, or use LlavaConfig for image-only LLaVA."
            )
        if config.mm_hidden_size is None:
            raise ValueError("The config names Video-LLaVA towers but not `mm_hidden_size` (the towers' width).")
        attn = config._attn_implementation or "sdpa"
        self.image_tower = self._tower(
            LanguageBindImageTower, config.mm_image_tower, config.mm_image_tower_config, attn
        )
        self.video_tower = self._tower(
            LanguageBindVideoTower, config.mm_video_tower, config.mm_video_tower_config, attn
        )
        if self.video_tower is not None:
            if config.temporal_attention is not None:
                self.video_tower.model.set_temporal_attention(config.temporal_attention)
            config.temporal_attention = self.video_tower.model.temporal_attention
        self.mm_projector = build_vision_projector(config.mm_projector_type, config.mm_hidden_size, config.hidden_size)
        self.post_init()

    def _tower(
        self, cls: type[LanguageBindTower], name: str | None, tower_config: dict | None, attn: str
    ) -> LanguageBindTower | None:
        if name is None:
            return None
        if tower_config is None:
            field = f"mm_{cls.model_attr}_config"
            raise ValueError(
                f"The config names {cls.model_attr} {name!r} but has no `{field}` (its LanguageBind vision config). "
                "Fix: load the checkpoint with llava.model.builder.load_pretrained_model, which reads it from the "
                "tower's repository."
            )
        vision = languagebind_vision_config(tower_config)
        if vision.hidden_size != self.config.mm_hidden_size:
            raise ValueError(
                f"{cls.model_attr} {name!r} is {vision.hidden_size} wide but mm_hidden_size is "
                f"{self.config.mm_hidden_size}; the shared projector needs both towers at mm_hidden_size."
            )
        return cls(name, vision, select_layer=self.config.mm_vision_select_layer, attn_implementation=attn)


class VideoLlavaLlamaForCausalLM(LlavaLlamaForCausalLM):
    """Video-LLaVA-7B (original layout) with DUET; see the module docstring for the input convention."""

    config: VideoLlavaLlamaConfig
    config_class = VideoLlavaLlamaConfig
    model_class = VideoLlavaLlamaModel

    # ------------------------------------------------------------------ components
    def get_model(self) -> VideoLlavaLlamaModel:
        return self.model

    def get_image_tower(self) -> LanguageBindImageTower | None:
        return self.model.image_tower

    def get_video_tower(self) -> LanguageBindVideoTower | None:
        return self.model.video_tower

    def get_vision_tower(self) -> LanguageBindTower:
        """The image tower (the video tower for a video-only model): what LLaVA-1.5 code paths ask geometry of."""
        return self.model.image_tower if self.model.image_tower is not None else self.model.video_tower

    def has_vision_path(self) -> bool:
        return True

    def count_visual_inputs(self, images: torch.Tensor | list[torch.Tensor] | None) -> int:
        """Images plus videos (not frames) in `images`."""
        return len(split_visual_inputs(images))

    @property
    def temporal_attention(self) -> bool:
        tower = self.model.video_tower
        return tower is not None and tower.model.temporal_attention

    def set_temporal_attention(self, enabled: bool) -> None:
        """Run the video tower with (True) or without its temporal attention; recorded in `config.temporal_attention`."""
        tower = self.model.video_tower
        if tower is None:
            raise ValueError("This Video-LLaVA model has no video tower, so it has no temporal attention to switch.")
        tower.model.set_temporal_attention(enabled)
        self.config.temporal_attention = tower.model.temporal_attention

    def duet_geometry(self) -> tuple[int, int]:
        """(decoder layers, patches per image / frame): V2V budgets are per image and per frame."""
        towers = [t for t in (self.model.image_tower, self.model.video_tower) if t is not None]
        return self.config.num_hidden_layers, min(t.num_patches for t in towers)

    # ------------------------------------------------------------------ vision path
    def _encode(self, tower: LanguageBindTower, pixels: torch.Tensor) -> torch.Tensor:
        duet = self.model.duet
        features = tower.forward_v2v(pixels, duet).tokens if duet is not None and duet.v2v_enabled else tower(pixels)
        return self.model.mm_projector(features.to(self.model.embed_tokens.weight.dtype))

    def encode_images(self, images: torch.Tensor | list[torch.Tensor]) -> list[torch.Tensor]:
        """One (n_tokens, hidden) tensor per placeholder: per image, and per frame of every video."""
        items = split_visual_inputs(images)
        images_in = [item.pixels for item in items if item.kind == "image"]
        videos_in = [item.pixels for item in items if item.kind == "video"]
        image_features: list[torch.Tensor] = []
        frame_features: list[torch.Tensor] = []
        if images_in:
            tower = self._require(self.model.image_tower, "image")
            image_features = list(self._encode(tower, torch.stack(images_in)).unbind(0))
        if videos_in:
            tower = self._require(self.model.video_tower, "video")
            self._check_frames(tower, videos_in)
            frame_features = list(self._encode(tower, torch.cat(videos_in)).unbind(0))
        images_iter, frames_iter = iter(image_features), iter(frame_features)
        ordered: list[torch.Tensor] = []
        for item in items:
            if item.kind == "image":
                ordered.append(next(images_iter))
            else:
                ordered.extend(next(frames_iter) for _ in range(item.placeholders))
        if self.training:
            ordered = self._keep_both_towers_in_graph(ordered, bool(images_in), bool(videos_in))
        return ordered

    def _require(self, tower: LanguageBindTower | None, kind: str) -> LanguageBindTower:
        if tower is None:
            raise ValueError(
                f"Got a {kind} but this Video-LLaVA checkpoint has no {kind} tower (mm_{kind}_tower is unset)."
            )
        return tower

    @staticmethod
    def _check_frames(tower: LanguageBindVideoTower, videos: list[torch.Tensor]) -> None:
        if not tower.model.temporal_attention:
            return
        wrong = sorted({v.shape[0] for v in videos if v.shape[0] != tower.num_frames})
        if wrong:
            raise ValueError(
                f"Videos with {wrong} frames: the video tower's temporal attention takes exactly {tower.num_frames} "
                f"frames per video. Fix: sample {tower.num_frames} frames (llava.video.frames.sample_video_frames)."
            )

    def _keep_both_towers_in_graph(
        self, ordered: list[torch.Tensor], had_images: bool, had_videos: bool
    ) -> list[torch.Tensor]:
        """Under ZeRO-3 every rank must run the same modules each step; a tower this batch did not use runs on a
        blank input whose features are multiplied by zero (LLaVA's `image_features[0:0]` idea, for two towers)."""
        zero = self._blank_pass(need_image=not had_images, need_video=not had_videos)
        if ordered and zero is not None:
            ordered[0] = ordered[0] + zero
        return ordered

    def _blank_pass(self, need_image: bool, need_video: bool) -> torch.Tensor | None:
        zero = None
        for tower, needed in ((self.model.image_tower, need_image), (self.model.video_tower, need_video)):
            if tower is None or not needed:
                continue
            size = tower.config.image_size
            frames = tower.num_frames if isinstance(tower, LanguageBindVideoTower) else 1
            blank = torch.zeros(frames, 3, size, size, device=self.lm_head.weight.device, dtype=tower.dtype)
            term = self._encode(tower, blank).sum() * 0.0
            zero = term if zero is None else zero + term
        return zero

    def _unused_vision_path(self, device: torch.device) -> torch.Tensor:
        """A text-only training batch still runs both towers and the projector (see `_keep_both_towers_in_graph`)."""
        zero = self._blank_pass(need_image=True, need_video=True)
        return zero if zero is not None else torch.zeros((), device=device)

    def prepare_multimodal_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        labels: torch.Tensor | None,
        images: torch.Tensor | list[torch.Tensor] | None,
        t2v_query_mask: torch.Tensor | None,
        default_padding_side: str,
    ) -> SplicedInputs:
        """Encode images and frames and splice them in, one frame per `<image>` placeholder.

        A count mismatch is found by the splice (no extra device sync); for videos the error says how to prompt.
        """
        items = split_visual_inputs(images)
        features = self.encode_images(images) if items else []
        try:
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
        except ValueError as error:
            videos = [item for item in items if item.kind == "video"]
            if not videos or "placeholder" not in str(error):
                raise
            frames = videos[0].placeholders
            raise ValueError(
                f"{error} The visual inputs are {len(items) - len(videos)} image(s) and {len(videos)} video(s): each "
                f"video takes one <image> per frame ({frames}). Fix: build a video's prompt with '<image>' * {frames}, "
                "as Video-LLaVA's run_inference_video_qa does."
            ) from error


AutoConfig.register(VIDEO_LLAVA_MODEL_TYPE, VideoLlavaLlamaConfig)
AutoModelForCausalLM.register(VideoLlavaLlamaConfig, VideoLlavaLlamaForCausalLM)
