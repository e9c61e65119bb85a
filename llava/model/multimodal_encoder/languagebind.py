"""LanguageBind's vision transformer (Video-LLaVA's `mm_video_tower`) as a transformers CLIP vision model.

The video tower of `LanguageBind/Video-LLaVA-7B` is LanguageBind's CLIP ViT-L/14 with *temporal attention* in every
encoder layer (`languagebind/video/modeling_video.py`, reference doc video-llava.md §1.4). Each layer first mixes the
frames of a clip, then runs the ordinary spatial CLIP layer:

1. ``(b t) n d -> (b n) t d``: one sequence of T frames per spatial position, CLS included;
2. add the layer's own ``temporal_embedding`` (1, T, D) (only when T > 1), and keep that sum as the residual;
3. pre-norm self-attention across the T frames (``temporal_layer_norm1``, ``temporal_attn``), plus the residual;
4. ``(b n) t d -> (b t) n d``, then the spatial CLIP layer (``layer_norm1``, ``self_attn``, ``layer_norm2``, ``mlp``).

Here that is a subclass of transformers' ``CLIPEncoderLayer`` inside a ``CLIPVisionModel`` subclass, so the tower
keeps the transformers attention kernels (SDPA / flash), output capture, gradient checkpointing and loading, and its
parameter names are exactly the original's (``encoder.layers.N.temporal_attn.q_proj.weight``, ...). The transformers
conversion of Video-LLaVA (``-hf``) has no temporal weights (Video-LLaVA#223); ``temporal_attention`` switches the
temporal step off at run time, which reproduces that spatial-only tower with the same weights.

The number of frames is fixed by the config (``num_frames``, 8 for Video-LLaVA), as in the original: with temporal
attention on, the tower takes ``B·num_frames`` frames, clip by clip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from huggingface_hub.dataclasses import strict
from torch import nn
from transformers import AutoConfig, AutoModel, CLIPVisionConfig, CLIPVisionModel
from transformers import initialization as init
from transformers.models.clip.modeling_clip import (
    CLIPAttention,
    CLIPEncoder,
    CLIPEncoderLayer,
    CLIPPreTrainedModel,
    CLIPVisionEmbeddings,
)
from transformers.utils.output_capturing import OutputRecorder

LANGUAGEBIND_VISION_MODEL_TYPE = "languagebind_vision_model"

# LanguageBind's vision config carries these besides CLIP's own fields; they are training-time knobs of LanguageBind
# (LoRA rank of the temporal modules, patch dropout, audio spectrogram sizes, decode backend) with no effect on
# inference, so they are accepted and dropped rather than stored.
_IGNORED_LANGUAGEBIND_FIELDS = (
    "force_patch_dropout",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "num_mel_bins",
    "target_length",
    "video_decode_backend",
)


@strict
class LanguageBindVisionConfig(CLIPVisionConfig):
    """A CLIP vision config plus LanguageBind's temporal fields.

    ``add_time_attn`` says whether the layers *have* temporal modules (a property of the weights); ``num_frames`` is
    the clip length they were trained on and the length of each layer's ``temporal_embedding``.
    """

    model_type = LANGUAGEBIND_VISION_MODEL_TYPE

    add_time_attn: bool = False
    num_frames: int = 1

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if self.num_frames < 1:
            raise ValueError(f"LanguageBindVisionConfig.num_frames must be >= 1, got {self.num_frames}.")


def languagebind_vision_config(raw: Mapping[str, Any]) -> LanguageBindVisionConfig:
    """The tower config from a LanguageBind ``config.json`` dict (``vision_config`` nested) or a flat vision dict.

    LanguageBind's repos (``LanguageBind/LanguageBind_Image``, ``..._Video_merge``) save a two-tower CLIP config whose
    ``vision_config`` holds the fields above; plain ``clip_vision_model`` dicts are accepted as they are.
    """
    vision = dict(raw.get("vision_config", raw))
    for key in (*_IGNORED_LANGUAGEBIND_FIELDS, "model_type", "architectures", "transformers_version"):
        vision.pop(key, None)
    known = set(LanguageBindVisionConfig.__dataclass_fields__)
    return LanguageBindVisionConfig(**{k: v for k, v in vision.items() if k in known})


class LanguageBindEncoderLayer(CLIPEncoderLayer):
    """A CLIP encoder layer with LanguageBind's temporal attention in front of the spatial one."""

    def __init__(self, config: LanguageBindVisionConfig) -> None:
        super().__init__(config)
        self.num_frames = config.num_frames
        self.has_temporal = config.add_time_attn
        # Run-time switch (`LanguageBindVisionModel.set_temporal_attention`); the weights stay either way.
        self.temporal_attention = config.add_time_attn
        if config.add_time_attn:
            self.temporal_embedding = nn.Parameter(torch.zeros(1, config.num_frames, config.hidden_size))
            self.temporal_attn = CLIPAttention(config)
            self.temporal_layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def temporal_block(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Steps 1–3 of the module docstring on (B·T, N, D) hidden states; the identity when switched off.

        Also what a caller recomputing this layer's spatial-attention input on the side (DUET's V2V) applies first.
        """
        if not self.temporal_attention:
            return hidden_states
        frames, tokens, width = hidden_states.shape
        t = self.num_frames
        clips = frames // t
        per_position = hidden_states.view(clips, t, tokens, width).transpose(1, 2).reshape(clips * tokens, t, width)
        if t != 1:
            per_position = per_position + self.temporal_embedding[:, :t, :]
        attended, _ = self.temporal_attn(self.temporal_layer_norm1(per_position), attention_mask=None)
        mixed = per_position + attended
        return mixed.view(clips, tokens, t, width).transpose(1, 2).reshape(frames, tokens, width)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, **kwargs: Any) -> torch.Tensor:
        return super().forward(self.temporal_block(hidden_states), attention_mask, **kwargs)


class LanguageBindEncoder(CLIPEncoder):
    """`CLIPEncoder` whose layers are `LanguageBindEncoderLayer`s (the forward loop is CLIP's)."""

    def __init__(self, config: LanguageBindVisionConfig) -> None:
        nn.Module.__init__(self)
        self.config = config
        self.layers = nn.ModuleList([LanguageBindEncoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.gradient_checkpointing = False


class LanguageBindVisionModel(CLIPVisionModel):
    """LanguageBind's vision transformer; with ``add_time_attn=False`` it is exactly a `CLIPVisionModel`.

    Returned ``attentions`` are the spatial ones only (as LanguageBind's layer returns them), one per layer.
    """

    config: LanguageBindVisionConfig
    config_class = LanguageBindVisionConfig
    _no_split_modules = ["LanguageBindEncoderLayer", "CLIPVisionEmbeddings"]
    _can_record_outputs = {
        "hidden_states": LanguageBindEncoderLayer,
        "attentions": OutputRecorder(CLIPAttention, index=1, layer_name="self_attn"),
    }

    def __init__(self, config: LanguageBindVisionConfig) -> None:
        CLIPPreTrainedModel.__init__(self, config)
        self.embeddings = CLIPVisionEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = LanguageBindEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """CLIP's init, plus LanguageBind's for the temporal embedding (normal, std = hidden^-0.5).

        transformers 5 initialises every parameter a checkpoint does not provide through this hook; without it the
        temporal embedding of a freshly built tower would be left as uninitialised memory.
        """
        super()._init_weights(module)
        if isinstance(module, LanguageBindEncoderLayer) and module.has_temporal:
            init.normal_(module.temporal_embedding, std=self.config.hidden_size**-0.5)

    # ------------------------------------------------------------------ temporal attention switch
    @property
    def has_temporal_attention(self) -> bool:
        """Whether the layers carry temporal modules (from the config; the weights decide if they are trained)."""
        return self.config.add_time_attn

    @property
    def temporal_attention(self) -> bool:
        """Whether the temporal step runs (all layers are switched together)."""
        return any(layer.temporal_attention for layer in self.encoder.layers)

    def set_temporal_attention(self, enabled: bool) -> None:
        """Run the temporal step (True) or skip it, leaving a spatial-only CLIP tower with the same weights."""
        if enabled and not self.has_temporal_attention:
            raise ValueError(
                "This LanguageBind tower has no temporal attention (config add_time_attn=False), so it cannot be "
                "switched on. Fix: load a tower whose config has add_time_attn=true (LanguageBind_Video_merge), or "
                "pass temporal_attention=False."
            )
        for layer in self.encoder.layers:
            layer.temporal_attention = bool(enabled)

    def forward(self, pixel_values: torch.Tensor | None = None, **kwargs: Any):
        """CLIP's forward on (B·T, C, H, W) frames, clip after clip; T must be ``config.num_frames`` when temporal."""
        if pixel_values is not None and self.temporal_attention and pixel_values.shape[0] % self.config.num_frames:
            raise ValueError(
                f"The LanguageBind video tower got {pixel_values.shape[0]} frames, which is not a whole number of "
                f"{self.config.num_frames}-frame clips; with temporal attention on each clip must have exactly "
                f"config.num_frames frames. Fix: sample {self.config.num_frames} frames per video."
            )
        return super().forward(pixel_values, **kwargs)


AutoConfig.register(LANGUAGEBIND_VISION_MODEL_TYPE, LanguageBindVisionConfig)
AutoModel.register(LanguageBindVisionConfig, LanguageBindVisionModel)
