"""Configuration of Video-LLaVA in its original layout (`LanguageBind/Video-LLaVA-7B`), `model_type` `video_llava_llama`.

The released `config.json` is LLaVA's flat Llama config (`model_type: llava`, which transformers maps to its own,
different LlavaConfig) with two tower names instead of one: `mm_image_tower` (LanguageBind_Image) and
`mm_video_tower` (LanguageBind_Video_merge). The towers' own configs live in those repositories; the loader copies
their vision configs in here (`mm_image_tower_config`, `mm_video_tower_config`), so the model can be built before any
weight is read and a re-saved checkpoint is self-contained.

`temporal_attention` records whether the video tower ran its temporal attention (None = decide at load: on exactly
when the tower has temporal modules). Eval answers copy it into their metadata.
"""

from huggingface_hub.dataclasses import strict

from llava.model.configuration_llava import LlavaConfig

VIDEO_LLAVA_MODEL_TYPE = "video_llava_llama"
VIDEO_FRAMES = 8
"""Frames per video: fixed by the video tower's temporal embedding and by the prompt's 8 `<image>` placeholders."""


@strict
class VideoLlavaLlamaConfig(LlavaConfig):
    """LLaVA's config with Video-LLaVA's two towers; `mm_vision_tower` stays unset (there is no single tower)."""

    model_type = VIDEO_LLAVA_MODEL_TYPE

    mm_image_tower: str | None = None
    mm_video_tower: str | None = None
    mm_image_tower_config: dict | None = None
    mm_video_tower_config: dict | None = None
    temporal_attention: bool | None = None
