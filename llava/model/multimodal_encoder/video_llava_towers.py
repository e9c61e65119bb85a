"""Video-LLaVA's two frozen towers: LanguageBind_Image for images, LanguageBind_Video_merge for 8-frame clips.

Both read the hidden states of the select layer (−2), as Video-LLaVA's `LanguageBindImageTower` /
`LanguageBindVideoTower` do, but keep different tokens (reference doc video-llava.md §1.3):

- images drop CLS: 256 tokens per 224-px image (`mm_vision_select_feature="patch"`);
- video frames keep CLS (the original's `feature_select` returns every token): 257 per frame, 8 × 257 = 2056 per
  video.

The module attribute holding the transformer is named as in the original (`image_tower.image_tower`,
`video_tower.video_tower`), so a Video-LLaVA checkpoint's keys `model.video_tower.video_tower.encoder.layers.N.*`
load as they are.

DUET's V2V runs per image and per frame: each frame is ranked by its own CLS row at the select layer, recomputed on
the side from that layer's spatial-attention input (with temporal attention on, that input is the layer's input
after its temporal step), so the tower keeps SDPA / flash attention.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from duet.adapter import SelectLayer
from duet.config import DuetConfig
from duet.v2v import V2VResult, cls_attention_stats, compress
from llava.model.multimodal_encoder.clip_select_layer import hidden_states_entry, run_tower
from llava.model.multimodal_encoder.languagebind import LanguageBindVisionConfig, LanguageBindVisionModel


def languagebind_select_layer(
    hidden_states: tuple[torch.Tensor, ...], model: LanguageBindVisionModel, select_layer: int
) -> SelectLayer:
    """V2V's `SelectLayer` of a LanguageBind tower: like `clip_select_layer`, but the CLS row and keys come from the
    layer's *spatial* attention input, i.e. its input after the temporal step (identity when temporal is off)."""
    entry = hidden_states_entry(len(hidden_states) - 1, select_layer)
    layer = model.encoder.layers[entry - 1]
    attention = layer.self_attn
    with torch.no_grad():
        spatial_input = layer.layer_norm1(layer.temporal_block(hidden_states[entry - 1]))
        cls_attention, mean_keys = cls_attention_stats(
            spatial_input, attention.q_proj, attention.k_proj, num_heads=attention.num_heads, scale=attention.scale
        )
    return SelectLayer(output=hidden_states[entry], cls_attention=cls_attention, mean_keys=mean_keys)


class LanguageBindTower(nn.Module):
    """A frozen LanguageBind transformer and the features Video-LLaVA reads from it."""

    model_attr: ClassVar[str]
    keep_cls: ClassVar[bool]

    def __init__(
        self,
        tower_name: str,
        config: LanguageBindVisionConfig,
        select_layer: int = -2,
        attn_implementation: str = "sdpa",
    ) -> None:
        super().__init__()
        self.tower_name = tower_name
        self.select_layer = select_layer
        model = LanguageBindVisionModel._from_config(config, attn_implementation=attn_implementation)
        model.requires_grad_(False)
        setattr(self, self.model_attr, model)
        self._layer_entry()  # a select layer outside the tower fails at construction, not at the first forward

    @property
    def model(self) -> LanguageBindVisionModel:
        return getattr(self, self.model_attr)

    @property
    def config(self) -> LanguageBindVisionConfig:
        return self.model.config

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
    def tokens_per_frame(self) -> int:
        """Features one image / frame yields without V2V: the patches, plus CLS for video frames."""
        return self.num_patches + int(self.keep_cls)

    @property
    def dtype(self) -> torch.dtype:
        return self.model.embeddings.class_embedding.dtype

    @property
    def device(self) -> torch.device:
        return self.model.embeddings.class_embedding.device

    def _layer_entry(self) -> int:
        """Index into `hidden_states` (entry 0 = the encoder input) that `select_layer` names."""
        return hidden_states_entry(self.config.num_hidden_layers, self.select_layer)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, tokens_per_frame, D) features of N images / frames (frames clip by clip)."""
        features = run_tower(self.model, pixels)[self._layer_entry()]
        return features if self.keep_cls else features[:, 1:]

    def select_layer_stats(self, pixels: torch.Tensor) -> SelectLayer:
        """The select layer of each image / frame with its CLS row and keys (V2V's input)."""
        return languagebind_select_layer(run_tower(self.model, pixels), self.model, self.select_layer)

    def forward_v2v(self, pixels: torch.Tensor, duet: DuetConfig) -> V2VResult:
        """DUET stage A on each image / frame: `dominant + contextual` tokens, ranked by that frame's CLS row."""
        return compress(self.select_layer_stats(pixels), duet)


class LanguageBindImageTower(LanguageBindTower):
    """`mm_image_tower`: CLS dropped, 256 tokens per 224-px image."""

    model_attr = "image_tower"
    keep_cls = False


class LanguageBindVideoTower(LanguageBindTower):
    """`mm_video_tower`: CLS kept, 257 tokens per frame; frames arrive clip by clip (B·T, C, H, W)."""

    model_attr = "video_tower"
    keep_cls = True

    @property
    def num_frames(self) -> int:
        return self.config.num_frames
