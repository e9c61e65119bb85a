"""Convert transformers-native LLaVA checkpoints (`llava-hf/llava-1.5-*-hf`) into `LlavaLlamaForCausalLM`.

The native layout nests the Llama config under `text_config`, keeps the CLIP tower's weights inside the checkpoint,
and names the projector `multi_modal_projector.linear_{1,2}`. Its keys come either in the legacy form it is stored
in (`language_model.model.*`) or in the form transformers 5 renames them to at load (`model.language_model.*`); both
are accepted, through `KEY_MAPPING` handed to transformers' own loader. The CLIP tower is not copied into the model's
config: the converted model names the native checkpoint in `mm_vision_tower` and loads its tower from there, like
every LLaVA checkpoint does, so a converted model saved in LLaVA's layout (without the tower) loads back exactly.
The result is the same class as every other checkpoint kind, so DUET and the eval scripts see one model.
"""

import json
from pathlib import Path

import torch
from transformers import CLIPVisionConfig

from llava.model.configuration_llava import LlavaConfig
from llava.model.state_dict_io import load_weight_file, strip_prefix, weight_files

SELECT_STRATEGY = {"default": "patch", "full": "cls_patch"}
# Native key → our key, as regexes for `from_pretrained(key_mapping=...)`, so that transformers' loader (device_map,
# dtype, quantization, sharding) reads native checkpoints directly. The tower's keys are left alone: they are
# unexpected in the decoder (ignored there) and read by `read_hf_native_tower` when the tower loads.
KEY_MAPPING = {
    r"^language_model\.model\.": "model.",
    r"^model\.language_model\.": "model.",
    r"^language_model\.lm_head\.": "lm_head.",
    r"^(?:model\.)?multi_modal_projector\.linear_1\.": "model.mm_projector.0.",
    r"^(?:model\.)?multi_modal_projector\.linear_2\.": "model.mm_projector.2.",
}
# The tower's keys: `vision_tower.vision_model.*` as llava-hf stores them (transformers 4), `vision_tower.*` as
# transformers 5 saves them, each possibly under `model.`.
_TOWER_PREFIXES = ("model.vision_tower.", "vision_tower.")


def is_hf_native_config(config: dict) -> bool:
    """A transformers-native LLaVA config nests the two models' configs instead of LLaVA's flat `mm_*` fields."""
    return "text_config" in config and "vision_config" in config


def llava_config_from_hf(config: dict, mm_vision_tower: str) -> LlavaConfig:
    """Our flat config from a native `LlavaConfig` dict; the tower is loaded by reference from `mm_vision_tower`."""
    if config.get("projector_hidden_act", "gelu") != "gelu":
        raise ValueError(f"Unsupported projector_hidden_act {config['projector_hidden_act']!r}; LLaVA-1.5 uses 'gelu'.")
    layer = config.get("vision_feature_layer", -2)
    if not isinstance(layer, int):
        raise ValueError(f"vision_feature_layer={layer!r}: a list of layers is not LLaVA-1.5's layout.")
    strategy = config.get("vision_feature_select_strategy", "default")
    if strategy not in SELECT_STRATEGY:
        raise ValueError(
            f"Unknown vision_feature_select_strategy {strategy!r}; expected one of {list(SELECT_STRATEGY)}."
        )
    vision = native_vision_config(config)
    text = {k: v for k, v in config["text_config"].items() if k not in ("model_type", "architectures")}
    return LlavaConfig(
        **text,
        mm_vision_tower=mm_vision_tower,
        mm_hidden_size=vision.hidden_size,
        mm_vision_select_layer=layer,
        mm_vision_select_feature=SELECT_STRATEGY[strategy],
        mm_projector_type="mlp2x_gelu",
        image_aspect_ratio="pad",
    )


def native_vision_config(config: dict) -> CLIPVisionConfig:
    return CLIPVisionConfig(**{k: v for k, v in config["vision_config"].items() if k != "model_type"})


def read_hf_native_tower(folder: str | Path) -> tuple[CLIPVisionConfig, dict[str, torch.Tensor]]:
    """The CLIP tower inside a native checkpoint: its config and its weights, keyed as `CLIPVisionModel` names them.

    Only the tower's tensors are read from safetensors files, not the 7B decoder around them.
    """
    folder = Path(folder)
    config = native_vision_config(json.loads((folder / "config.json").read_text()))
    state: dict[str, torch.Tensor] = {}
    for file in weight_files(folder):
        for prefix in _TOWER_PREFIXES:
            tower = strip_prefix(load_weight_file(file, keys_with_prefix=prefix), prefix)
            state.update({key.removeprefix("vision_model."): value for key, value in tower.items()})
    if not state:
        raise ValueError(f"{folder} is a transformers-native LLaVA checkpoint without vision tower weights.")
    return config, state
