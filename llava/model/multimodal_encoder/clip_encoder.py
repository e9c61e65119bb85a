"""The CLIP vision tower as LLaVA-1.5 uses it, with DUET's V2V hook point.

LLaVA reads the hidden states of one CLIP layer (`mm_vision_select_layer`, −2 in LLaVA-1.5) and drops the CLS
token (`mm_vision_select_feature="patch"`). With DUET's V2V enabled the same layer's output is compressed instead:
the CLS→patch attention and the head-averaged keys that V2V needs are recomputed on the side from that layer's
*input*, one query row only (`clip_select_layer`), so the tower itself keeps SDPA / flash attention and never
materialises attention maps.
"""

import os
import re

import torch
from torch import nn
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

from duet.config import DuetConfig
from duet.v2v import V2VResult, compress
from llava.model.multimodal_encoder.clip_select_layer import clip_select_layer, hidden_states_entry, run_tower

SELECT_FEATURES = ("patch", "cls_patch")


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_vision_tower(name: str) -> str:
    """An existing folder, or a hub id (`org/name`); anything else is a missing path and fails here, clearly."""
    path = os.path.expanduser(name)
    if os.path.isdir(path):
        return path
    if _HUB_ID.match(name) and not os.path.exists(name):
        return name
    raise FileNotFoundError(
        f"Vision tower path {name!r} (mm_vision_tower) does not exist. Point `mm_vision_tower` in the checkpoint's "
        "config.json at a CLIP folder, or pass `vision_tower=<path>` to load_pretrained_model."
    )


class CLIPVisionTower(nn.Module):
    """A frozen-by-default CLIP ViT whose `select_layer` output feeds the projector.

    The module is built empty (`delay_load=True`) when a LLaVA checkpoint is loaded, because LLaVA checkpoints do not
    carry the tower's weights: they name it in `mm_vision_tower` and the tower is loaded from there afterwards
    (`load_model`). Tests and tiny models build it directly from a `CLIPVisionConfig` (`build_from_config`).
    """

    def __init__(
        self,
        vision_tower: str,
        select_layer: int = -2,
        select_feature: str = "patch",
        delay_load: bool = True,
        attn_implementation: str = "sdpa",
    ) -> None:
        super().__init__()
        if select_feature not in SELECT_FEATURES:
            raise ValueError(
                f"mm_vision_select_feature={select_feature!r} is not supported; use one of {SELECT_FEATURES}."
            )
        self.vision_tower_name = vision_tower
        self.select_layer = select_layer
        self.select_feature = select_feature
        self.attn_implementation = attn_implementation
        self.is_loaded = False
        self.vision_tower: CLIPVisionModel | None = None
        self.image_processor: CLIPImageProcessor | None = None
        if not delay_load:
            self.load_model()

    def load_model(self, path: str | None = None, device_map: str | dict | None = None) -> None:
        """Load the CLIP weights and image processor from `path` (default: the configured `mm_vision_tower`)."""
        if self.is_loaded:
            return
        name = resolve_vision_tower(path or self.vision_tower_name)
        self.image_processor = CLIPImageProcessor.from_pretrained(name)
        model = CLIPVisionModel.from_pretrained(
            name, device_map=device_map, attn_implementation=self.attn_implementation
        )
        self._attach(model)

    def build_from_config(self, config: CLIPVisionConfig, image_processor: CLIPImageProcessor) -> None:
        """Create a randomly initialised tower (tiny test models, the demo)."""
        model = CLIPVisionModel._from_config(config, attn_implementation=self.attn_implementation)
        self.image_processor = image_processor
        self._attach(model)

    def _attach(self, model: CLIPVisionModel) -> None:
        model.requires_grad_(False)
        self.vision_tower = model
        self.is_loaded = True

    # ------------------------------------------------------------------ geometry
    @property
    def config(self) -> CLIPVisionConfig:
        if self.vision_tower is None:
            raise RuntimeError(
                f"The vision tower {self.vision_tower_name!r} is not loaded yet; call `load_model()` first."
            )
        return self.vision_tower.config

    @property
    def hidden_size(self) -> int:
        return self.config.hidden_size

    @property
    def num_patches_per_side(self) -> int:
        return self.config.image_size // self.config.patch_size

    @property
    def num_patches(self) -> int:
        return self.num_patches_per_side**2

    @property
    def dtype(self) -> torch.dtype:
        return self.vision_tower.dtype

    @property
    def device(self) -> torch.device:
        return self.vision_tower.device

    # ------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """LLaVA's features: (num_images, 576, D) for `patch`, (num_images, 577, D) for `cls_patch`."""
        hidden_states = run_tower(self.vision_tower, images)
        features = hidden_states[hidden_states_entry(len(hidden_states) - 1, self.select_layer)]
        return features[:, 1:] if self.select_feature == "patch" else features

    def forward_v2v(self, images: torch.Tensor, duet: DuetConfig) -> V2VResult:
        """DUET stage A: the select layer's tokens merged down to `dominant + contextual` per image."""
        hidden_states = run_tower(self.vision_tower, images)
        return compress(clip_select_layer(hidden_states, self.vision_tower, self.select_layer), duet)
