"""Inputs for transformers' `VideoLlavaForConditionalGeneration` (the `-hf` layout), with or without torchvision.

transformers' `VideoLlavaProcessor` needs its video processor, which needs torchvision; a CPU machine whose torch
build has no matching torchvision (or none at all) cannot construct it. `VideoLlavaHfProcessor` produces the same
model inputs from the checkpoint's tokenizer and `VideoLlavaImageProcessor` alone:

- each `<image>` becomes `(size / patch)² + 1 − 1` = 256 `<image>` tokens (CLS dropped by the "default" strategy),
  each `<video>` becomes `T · ((size / patch)² + 1)` = 2056 `<video>` tokens for 8 frames (CLS kept per frame),
  exactly as `VideoLlavaProcessor.replace_image_token` / `replace_video_token` count them;
- images → `pixel_values` (N, 3, 224, 224) and frames → `pixel_values_videos` (B, T, 3, 224, 224), both through the
  image processor: the video processor's defaults (short side 224, bicubic, centre crop 224, rescale, CLIP mean /
  std) are the image processor's, applied frame by frame.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BatchFeature, PreTrainedTokenizerBase, VideoLlavaImageProcessor


class VideoLlavaHfProcessor:
    """`processor(text=..., images=..., videos=..., padding=True, return_tensors="pt")` for the `-hf` model."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        image_processor: VideoLlavaImageProcessor,
        patch_size: int = 14,
        vision_feature_select_strategy: str = "default",
        num_additional_image_tokens: int = 1,
        image_token: str = "<image>",
        video_token: str = "<video>",
    ) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.patch_size = patch_size
        self.vision_feature_select_strategy = vision_feature_select_strategy
        self.num_additional_image_tokens = num_additional_image_tokens
        self.image_token = image_token
        self.video_token = video_token
        for token in (image_token, video_token):
            if tokenizer.convert_tokens_to_ids(token) in (None, tokenizer.unk_token_id):
                raise ValueError(f"The tokenizer has no {token!r} token; this is not a Video-LLaVA -hf tokenizer.")

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> VideoLlavaHfProcessor:
        """The tokenizer, image processor and `processor_config.json` settings saved with an `-hf` checkpoint."""
        folder = Path(folder)
        settings_file = folder / "processor_config.json"
        settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
        keys = (
            "patch_size",
            "vision_feature_select_strategy",
            "num_additional_image_tokens",
            "image_token",
            "video_token",
        )
        return cls(
            AutoTokenizer.from_pretrained(str(folder)),
            VideoLlavaImageProcessor.from_pretrained(str(folder)),
            **{k: settings[k] for k in keys if k in settings},
        )

    def _tokens_per_frame(self, pixels: torch.Tensor) -> int:
        height, width = pixels.shape[-2:]
        return (height // self.patch_size) * (width // self.patch_size) + self.num_additional_image_tokens

    def _pixels(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        out = self.image_processor(images=list(images), return_tensors="pt", return_legacy_image_output=False)
        return out["pixel_values"]

    def __call__(
        self,
        text: str | Sequence[str],
        images: Sequence[np.ndarray] | None = None,
        videos: Sequence[np.ndarray] | None = None,
        padding: bool | str = False,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        """`videos` are (T, H, W, 3) uint8 frame arrays (e.g. `read_video_frames`), in placeholder order."""
        prompts = [text] if isinstance(text, str) else list(text)
        data: dict[str, torch.Tensor] = {}
        image_tokens = video_tokens = 0
        if images:
            data["pixel_values"] = self._pixels(images)
            image_tokens = self._tokens_per_frame(data["pixel_values"])
            if self.vision_feature_select_strategy == "default":
                image_tokens -= 1
        if videos:
            clips = [self._pixels(list(frames)) for frames in videos]
            data["pixel_values_videos"] = torch.stack(clips)
            video_tokens = self._tokens_per_frame(clips[0]) * clips[0].shape[0]
        counts = {
            "<image>": sum(p.count(self.image_token) for p in prompts),
            "<video>": sum(p.count(self.video_token) for p in prompts),
        }
        given = {"<image>": len(images or []), "<video>": len(videos or [])}
        if counts != given:
            raise ValueError(f"The prompts hold placeholders {counts} but {given} images / videos were given.")
        expanded = [
            p.replace(self.image_token, self.image_token * image_tokens).replace(
                self.video_token, self.video_token * video_tokens
            )
            for p in prompts
        ]
        data.update(self.tokenizer(expanded, padding=padding, return_tensors=return_tensors))
        return BatchFeature(data=data, tensor_type=return_tensors)

    def batch_decode(self, *args, **kwargs) -> list[str]:
        return self.tokenizer.batch_decode(*args, **kwargs)
