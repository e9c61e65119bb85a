"""Original Video-LLaVA weights → transformers' `VideoLlavaForConditionalGeneration` (the `-hf` layout).

The key map is the one of transformers' `convert_video_llava_weights_to_hf.py` (reference doc video-llava.md §1.5),
written for transformers 5's module names; `legacy_hf_keys` gives the names the released `-hf` checkpoint stores
(saved by transformers 4.39), which transformers 5 renames at load. As in that script, the temporal-attention weights
of the video tower have no place in the transformers class and are dropped — which is why `-hf` checkpoints run a
spatial-only video tower (Video-LLaVA#223); `convert_state_dict` returns them separately so a caller can see what
was lost.
"""

from __future__ import annotations

import torch
from transformers import CLIPVisionConfig, LlamaConfig, VideoLlavaConfig

from llava.model.configuration_video_llava import VideoLlavaLlamaConfig
from llava.model.multimodal_encoder.languagebind import languagebind_vision_config

_TO_HF = (
    ("model.video_tower.video_tower.", "model.video_tower."),
    ("model.image_tower.image_tower.", "model.image_tower."),
    ("model.mm_projector.0.", "model.multi_modal_projector.linear_1."),
    ("model.mm_projector.2.", "model.multi_modal_projector.linear_2."),
    ("model.", "model.language_model."),
    ("lm_head.", "lm_head."),
)
_TO_LEGACY = (
    ("model.language_model.", "language_model.model."),
    ("lm_head.", "language_model.lm_head."),
    ("model.image_tower.", "image_tower.vision_model."),
    ("model.video_tower.", "video_tower.vision_model."),
    ("model.multi_modal_projector.", "multi_modal_projector."),
)
TEMPORAL_PARAMETERS = ("temporal_embedding", "temporal_attn.", "temporal_layer_norm1.")


def _rename(key: str, table: tuple[tuple[str, str], ...]) -> str:
    for old, new in table:
        if key.startswith(old):
            return new + key[len(old) :]
    raise ValueError(f"Unexpected key {key!r} in a Video-LLaVA state dict; it matches none of {[o for o, _ in table]}.")


def convert_state_dict(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(transformers-5 `VideoLlavaForConditionalGeneration` state dict, the dropped temporal weights)."""
    converted: dict[str, torch.Tensor] = {}
    temporal: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.endswith(".inv_freq"):
            continue
        if key.startswith("model.video_tower.") and any(part in key for part in TEMPORAL_PARAMETERS):
            temporal[key] = value
            continue
        converted[_rename(key, _TO_HF)] = value
    return converted, temporal


def legacy_hf_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The key names `LanguageBind/Video-LLaVA-7B-hf` stores (`language_model.model.*`, `video_tower.vision_model.*`)."""
    return {_rename(key, _TO_LEGACY): value for key, value in state.items()}


def hf_config(
    config: VideoLlavaLlamaConfig, image_token_index: int, video_token_index: int, vocab_size: int, pad_token_id: int
) -> VideoLlavaConfig:
    """The `-hf` config of an original checkpoint: one vision config (the video tower's, minus its temporal fields,
    as the conversion did), the Llama text config with the resized vocabulary, and the placeholder token ids."""
    if config.mm_video_tower_config is None:
        raise ValueError("converting to the -hf layout needs the video tower's config (mm_video_tower_config)")
    vision = languagebind_vision_config(config.mm_video_tower_config).to_dict()
    vision = {k: v for k, v in vision.items() if k in CLIPVisionConfig.__dataclass_fields__ and k != "model_type"}
    text_fields = set(LlamaConfig.__dataclass_fields__) - {"model_type", "vocab_size", "pad_token_id"}
    text = {k: v for k, v in config.to_dict().items() if k in text_fields}
    strategy = {"patch": "default", "cls_patch": "full"}[config.mm_vision_select_feature]
    return VideoLlavaConfig(
        vision_config=CLIPVisionConfig(**vision).to_dict(),
        text_config=LlamaConfig(**text, vocab_size=vocab_size, pad_token_id=pad_token_id).to_dict(),
        image_token_index=image_token_index,
        video_token_index=video_token_index,
        vision_feature_layer=config.mm_vision_select_layer,
        vision_feature_select_strategy=strategy,
        projector_hidden_act="gelu",
        pad_token_id=pad_token_id,
    )
