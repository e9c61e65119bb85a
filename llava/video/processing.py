"""Video-LLaVA's preprocessing (original layout): LanguageBind's video transform and its image transform.

Video (`languagebind/video/processing_video.py`, decord / OpenCV backends), per clip of `num_frames` uint8 frames:
scale to [0, 1] → normalise with CLIP's mean / std → resize the short side to 224 (bilinear, pytorchvideo's
`ShortSideScale`: long side ``floor(long / short · 224)``) → centre crop 224 (torchvision's `CenterCropVideo`, offset
``round((size - 224) / 2)``). The original normalises *before* resizing, and so does this. It also applies
`RandomHorizontalFlipVideo(p=0.5)` at inference; that flip is left out on purpose, so answers are deterministic.
Output: (C, T, 224, 224), the layout the original model takes (`images=[video]`).

Images: CLIP's processor at 224 px (short side 224, bicubic, centre crop, CLIP mean / std), after padding to a square
filled with the mean colour when the checkpoint says `image_aspect_ratio: pad` (`llava.mm_utils.process_images`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import CLIPImageProcessorPil

from llava.video.frames import Backend, read_video_frames

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
VideoInput = str | Path | np.ndarray | torch.Tensor


def short_side_scale(clip: torch.Tensor, size: int) -> torch.Tensor:
    """pytorchvideo's `short_side_scale` on a (C, T, H, W) float clip: bilinear, no antialiasing."""
    _, _, height, width = clip.shape
    if width < height:
        new_h, new_w = int(math.floor(height / width * size)), size
    else:
        new_h, new_w = size, int(math.floor(width / height * size))
    return F.interpolate(clip, size=(new_h, new_w), mode="bilinear", align_corners=False)


def center_crop(clip: torch.Tensor, size: int) -> torch.Tensor:
    """torchvision's `CenterCropVideo` on (..., H, W)."""
    height, width = clip.shape[-2:]
    if height < size or width < size:
        raise ValueError(f"cannot centre-crop {size} px from a {height}x{width} clip")
    top, left = int(round((height - size) / 2.0)), int(round((width - size) / 2.0))
    return clip[..., top : top + size, left : left + size]


@dataclass(frozen=True)
class LanguageBindVideoProcessor:
    """Frames → (C, T, S, S) pixels for the original-layout model; `preprocess` mirrors Video-LLaVA's call."""

    num_frames: int = 8
    image_size: int = 224
    image_mean: tuple[float, ...] = CLIP_MEAN
    image_std: tuple[float, ...] = CLIP_STD
    backend: Backend = "pyav"

    def transform(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(T, H, W, 3) uint8 RGB frames → (3, T, S, S) float32, as in the module docstring."""
        clip = torch.as_tensor(np.asarray(frames))
        if clip.dim() != 4 or clip.shape[-1] != 3:
            raise ValueError(f"expected (T, H, W, 3) RGB frames, got shape {tuple(clip.shape)}")
        clip = clip.permute(3, 0, 1, 2).float() / 255.0
        mean = torch.tensor(self.image_mean).view(3, 1, 1, 1)
        std = torch.tensor(self.image_std).view(3, 1, 1, 1)
        clip = (clip - mean) / std
        return center_crop(short_side_scale(clip, self.image_size), self.image_size).contiguous()

    def load(self, video: VideoInput) -> torch.Tensor:
        """One video (a path or its decoded frames) → (3, T, S, S)."""
        if isinstance(video, str | Path):
            return self.transform(read_video_frames(video, self.num_frames, self.backend))
        return self.transform(video)

    def preprocess(self, videos: VideoInput | Sequence[VideoInput], return_tensors: str = "pt") -> dict[str, Any]:
        """`{"pixel_values": (B, 3, T, S, S)}`, as `processor['video'].preprocess(path, return_tensors='pt')`."""
        if return_tensors != "pt":
            raise ValueError(f"only return_tensors='pt' is supported, got {return_tensors!r}")
        batch = videos if isinstance(videos, list | tuple) else [videos]
        return {"pixel_values": torch.stack([self.load(video) for video in batch])}

    __call__ = preprocess


def languagebind_image_processor(image_size: int = 224) -> CLIPImageProcessorPil:
    """LanguageBind_Image's transform as a CLIP processor: short side `image_size` (bicubic), centre crop, CLIP norm."""
    return CLIPImageProcessorPil(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        resample=3,  # PIL bicubic, torchvision's `InterpolationMode.BICUBIC` in LanguageBind's transform
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
        do_resize=True,
        do_center_crop=True,
        do_normalize=True,
        do_convert_rgb=True,
    )


class VideoLlavaProcessors(dict):
    """Video-LLaVA's `processor` return value: `{'image': image processor, 'video': video processor}`.

    The original loader returns this dict in `load_pretrained_model`'s third slot, and its scripts index it
    (`processor['video']`); attribute access (`.image`, `.video`) is offered as well.
    """

    def __init__(self, image: CLIPImageProcessorPil | None, video: LanguageBindVideoProcessor | None) -> None:
        super().__init__(image=image, video=video)

    @property
    def image(self) -> CLIPImageProcessorPil | None:
        return self["image"]

    @property
    def video(self) -> LanguageBindVideoProcessor | None:
        return self["video"]
