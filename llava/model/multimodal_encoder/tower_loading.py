"""Where the CLIP tower's weights and preprocessing come from: `mm_vision_tower` resolved to a folder and read in full.

LLaVA checkpoints name their tower (`openai/clip-vit-large-patch14-336`) instead of holding it, so the tower is the
one part of a LLaVA model that is always loaded from somewhere else: a CLIP folder or Hub id, or a transformers-native
LLaVA checkpoint (llava-hf), whose tower lives inside it. Whatever the source, every weight must come from it.
"""

import json
from pathlib import Path

from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModel

from llava.model.hf_native import is_hf_native_config, native_vision_config, read_hf_native_tower
from llava.model.hub import ModelNotFoundError, resolve_model_folder


def load_image_processor(folder: str | Path) -> CLIPImageProcessorPil:
    """CLIP's preprocessing from a folder's `preprocessor_config.json`, on the PIL backend.

    LLaVA-1.5 was trained and scored with transformers' PIL/numpy CLIP processor; transformers 5 made the torchvision
    backend the default `CLIPImageProcessor` (whose resize differs slightly) and falls back to PIL with a warning when
    torchvision is missing. Naming the PIL class keeps LLaVA's preprocessing on every machine, without that notice.
    """
    return CLIPImageProcessorPil.from_pretrained(str(folder))


def resolve_vision_tower(name: str, *, token: str | bool | None = None, cache_dir: str | None = None) -> Path:
    """The local folder of `mm_vision_tower`: an existing folder, or a Hub id found in / fetched into the HF cache."""
    try:
        return resolve_model_folder(name, token=token, cache_dir=cache_dir, role="vision tower (mm_vision_tower)")
    except ModelNotFoundError as error:
        raise ModelNotFoundError(
            f"{error} The tower is named by `mm_vision_tower` in the checkpoint's config.json (or --vision_tower); "
            "pass `vision_tower=<folder or hub id>` to load_pretrained_model (--vision-tower on the eval entry "
            "points) to load it from elsewhere."
        ) from error


def _config_dict(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}


def read_tower_config(folder: Path) -> CLIPVisionConfig:
    """The tower's config (geometry) without its weights, from a CLIP folder or a transformers-native LLaVA folder."""
    config = _config_dict(folder)
    if is_hf_native_config(config):
        return native_vision_config(config)
    return CLIPVisionConfig.from_pretrained(str(folder))


def load_clip_tower(folder: Path, attn_implementation: str) -> tuple[CLIPVisionModel, CLIPImageProcessorPil]:
    """The CLIP vision model and its processor from a CLIP folder or a transformers-native LLaVA folder (llava-hf).

    Released LLaVA checkpoints do not hold the tower's weights, so this is where a missing weight would be silently
    initialised at random; every weight of the tower must come from the folder, or loading stops and names them.
    """
    if is_hf_native_config(_config_dict(folder)):
        vision_config, state = read_hf_native_tower(folder)
        model = CLIPVisionModel._from_config(vision_config, attn_implementation=attn_implementation)
        missing, unexpected = model.load_state_dict(state, strict=False)
    else:
        model, info = CLIPVisionModel.from_pretrained(
            str(folder), attn_implementation=attn_implementation, output_loading_info=True
        )
        missing = sorted(info["missing_keys"])
        unexpected = []
    if missing or unexpected:
        raise ValueError(
            f"The vision tower folder {folder} does not hold every CLIP weight: missing {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}{f', unexpected {unexpected[:8]}' if unexpected else ''}. Loading "
            "it would leave these weights randomly initialised. Fix: point mm_vision_tower (or vision_tower=) at a "
            "complete CLIP checkpoint such as openai/clip-vit-large-patch14-336."
        )
    return model, load_image_processor(folder)
