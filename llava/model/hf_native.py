"""Convert transformers-native LLaVA checkpoints (`llava-hf/llava-1.5-*-hf`) into `LlavaLlamaForCausalLM`.

The native layout nests the Llama config under `text_config`, keeps the CLIP tower's weights inside the checkpoint,
and names the projector `multi_modal_projector.linear_{1,2}`. Its keys come either in the legacy form it is stored
in (`language_model.model.*`) or in the form transformers 5 renames them to at load (`model.language_model.*`); both
are accepted. The result is the same class as every other checkpoint kind, so DUET and the eval scripts see one
model.
"""

from pathlib import Path

import torch
from transformers import CLIPImageProcessor, CLIPVisionConfig

from llava.model.configuration_llava import LlavaConfig
from llava.model.state_dict_io import load_folder_state_dict

SELECT_STRATEGY = {"default": "patch", "full": "cls_patch"}
_PREFIXES = (
    ("model.language_model.", "model."),
    ("language_model.model.", "model."),
    ("language_model.lm_head.", "lm_head."),
    ("model.multi_modal_projector.", "model.mm_projector."),
    ("multi_modal_projector.", "model.mm_projector."),
    ("model.vision_tower.", "vision_tower."),
    ("vision_tower.", "vision_tower."),
)
_PROJECTOR_LAYERS = {"linear_1.": "0.", "linear_2.": "2."}


def llava_config_from_hf(config: dict, mm_vision_tower: str) -> tuple[LlavaConfig, CLIPVisionConfig]:
    """Our flat config and the tower config, from a native `LlavaConfig` dict."""
    if config.get("projector_hidden_act", "gelu") != "gelu":
        raise ValueError(f"Unsupported projector_hidden_act {config['projector_hidden_act']!r}; LLaVA-1.5 uses 'gelu'.")
    layer = config.get("vision_feature_layer", -2)
    if not isinstance(layer, int):
        raise ValueError(f"vision_feature_layer={layer!r}: a list of layers is not LLaVA-1.5's layout.")
    strategy = config.get("vision_feature_select_strategy", "default")
    if strategy not in SELECT_STRATEGY:
        raise ValueError(f"Unknown vision_feature_select_strategy {strategy!r}; expected one of {list(SELECT_STRATEGY)}.")
    vision = CLIPVisionConfig(**{k: v for k, v in config["vision_config"].items() if k != "model_type"})
    text = {k: v for k, v in config["text_config"].items() if k not in ("model_type", "architectures")}
    llava = LlavaConfig(
        **text,
        mm_vision_tower=mm_vision_tower,
        mm_hidden_size=vision.hidden_size,
        mm_vision_select_layer=layer,
        mm_vision_select_feature=SELECT_STRATEGY[strategy],
        mm_projector_type="mlp2x_gelu",
        image_aspect_ratio="pad",
    )
    return llava, vision


def split_hf_state_dict(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(our LLaVA state dict without the tower, the CLIPVisionModel state dict)."""
    llava: dict[str, torch.Tensor] = {}
    tower: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for old, new in _PREFIXES:
            if key.startswith(old):
                renamed = new + key[len(old) :]
                break
        else:
            if key == "lm_head.weight":
                renamed = key
            else:
                raise ValueError(f"Unexpected key {key!r} in a transformers-native LLaVA checkpoint.")
        if renamed.startswith("vision_tower."):
            tower[renamed[len("vision_tower.") :].removeprefix("vision_model.")] = value
            continue
        if renamed.startswith("model.mm_projector."):
            rest = renamed[len("model.mm_projector.") :]
            for old, new in _PROJECTOR_LAYERS.items():
                if rest.startswith(old):
                    renamed = "model.mm_projector." + new + rest[len(old) :]
        llava[renamed] = value
    return llava, tower


def read_hf_native(model_path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Load and split a native checkpoint's weights."""
    return split_hf_state_dict(load_folder_state_dict(model_path))


def hf_image_processor(model_path: str | Path) -> CLIPImageProcessor:
    """The folder's CLIP preprocessing settings (`preprocessor_config.json`)."""
    return CLIPImageProcessor.from_pretrained(str(model_path))
