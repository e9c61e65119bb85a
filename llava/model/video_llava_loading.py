"""Load Video-LLaVA in either released layout; `load_pretrained_model` dispatches here (the folder's files decide).

- **original** (`LanguageBind/Video-LLaVA-7B`): LLaVA's flat config (`model_type: llava`) naming `mm_image_tower` and
  `mm_video_tower`. Both towers' *weights* are inside the checkpoint (`model.image_tower.image_tower.*`,
  `model.video_tower.video_tower.*`, temporal attention included); their *configs* are read from the repositories
  the config names (`LanguageBind/LanguageBind_Image`, `LanguageBind/LanguageBind_Video_merge`: only `config.json`
  is fetched). The original loader ignored the stored tower weights and downloaded both LanguageBind models again;
  the stored ones are the same frozen weights. → `VideoLlavaLlamaForCausalLM`, processors
  `{'image': ..., 'video': ...}` as the original returns them.
- **hf** (`LanguageBind/Video-LLaVA-7B-hf`): transformers' `VideoLlavaForConditionalGeneration`, unchanged, and
  its processor's inputs (`llava.video.hf_processing`, which needs no torchvision). Its conversion dropped the
  temporal weights (Video-LLaVA#223), so its video tower is spatial-only; that is logged once per process.

`temporal_attention` (None = on exactly when the checkpoint's video tower has it) is recorded in
`model.config.temporal_attention`. Missing or unexpected weights are errors naming the checkpoint, never silently
random towers.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from llava.model.configuration_video_llava import VideoLlavaLlamaConfig
from llava.model.hub import ModelNotFoundError, is_hub_id, resolve_model_file, resolve_model_folder
from llava.model.language_model.video_llava_llama import VideoLlavaLlamaForCausalLM
from llava.model.multimodal_encoder.languagebind import languagebind_vision_config
from llava.model.multimodal_encoder.video_llava_towers import LanguageBindTower
from llava.model.state_dict_io import load_weight_file, strip_prefix, weight_files
from llava.video.hf_processing import VideoLlavaHfProcessor
from llava.video.processing import LanguageBindVideoProcessor, VideoLlavaProcessors, languagebind_image_processor

logger = logging.getLogger(__name__)

HF_MODEL_TYPE = "video_llava"
PROJECTOR_FILE = "mm_projector.bin"
NON_LORA_FILE = "non_lora_trainables.bin"
TOWER_PREFIXES = {"image": "model.image_tower.image_tower.", "video": "model.video_tower.video_tower."}
HF_NO_TEMPORAL = (
    "%s is the transformers (-hf) layout of Video-LLaVA: its conversion dropped the video tower's temporal attention "
    "(PKU-YuanGroup/Video-LLaVA#223), so videos run through a spatial-only tower (temporal_attention=False). Load the "
    "original layout (LanguageBind/Video-LLaVA-7B) for the model as trained."
)


class VideoLlavaLayout(StrEnum):
    ORIGINAL = "original"
    HF = "hf"


def checkpoint_folder(model_path: str) -> Path:
    """A local folder, or the snapshot of a Hub id, through the project's one resolver (`llava.model.hub`)."""
    return resolve_model_folder(model_path, role="Video-LLaVA checkpoint")


def _read_json_config(name: str) -> dict | None:
    """`config.json` of a local folder or hub repo, or None when there is none (missing, offline, not a repo)."""
    path = Path(os.path.expanduser(name))
    if path.is_dir():
        file = path / "config.json"
        return json.loads(file.read_text()) if file.is_file() else None
    if path.exists() or not is_hub_id(name):
        return None
    try:
        return json.loads(resolve_model_file(name, "config.json", role="config").read_text())
    except (ModelNotFoundError, OSError, ValueError):
        return None


def video_llava_layout(model_path: str) -> VideoLlavaLayout | None:
    """Which Video-LLaVA layout `model_path` holds, or None when it is not Video-LLaVA (LLaVA-1.5 loads it)."""
    config = _read_json_config(model_path)
    if config is None:
        return None
    if config.get("model_type") == HF_MODEL_TYPE:
        return VideoLlavaLayout.HF
    if config.get("mm_video_tower") or config.get("mm_image_tower"):
        return VideoLlavaLayout.ORIGINAL
    return None


@functools.cache
def _log_once(message: str, *args: Any) -> None:
    logger.warning(message, *args)


def tower_vision_config(kind: str, name: str) -> dict:
    """The vision config (a dict) of the `kind` tower named `name` (a LanguageBind repo or folder)."""
    raw = _read_json_config(name)
    if raw is None:
        raise FileNotFoundError(
            f"Cannot read config.json of the {kind} tower {name!r} (mm_{kind}_tower). Its weights come from the "
            f"Video-LLaVA checkpoint, but its architecture comes from that repository. Fix: make {name!r} reachable "
            f"(hub access or the HF cache), or pass {kind}_tower=<a folder holding its config.json>."
        )
    return languagebind_vision_config(raw).to_dict()


def load_video_llava(
    layout: VideoLlavaLayout,
    model_path: str,
    model_base: str | None,
    load_kwargs: dict,
    *,
    temporal_attention: bool | None = None,
    image_tower: str | None = None,
    video_tower: str | None = None,
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, Any]:
    """(tokenizer, model, processors) of a Video-LLaVA checkpoint; `load_kwargs` are `from_pretrained`'s.

    `model_base` is the language model a LoRA or projector-only checkpoint (Video-LLaVA's `finetune_lora.sh` /
    `pretrain.sh` outputs, which hold neither the LLM nor the towers) was trained from; the towers' weights then
    come from the repositories the config names.
    """
    folder = checkpoint_folder(model_path)
    if layout is VideoLlavaLayout.HF:
        if model_base is not None:
            raise ValueError(
                f"{model_path} is a full -hf checkpoint; model_base applies to LoRA / projector-only ones."
            )
        return _load_hf(folder, load_kwargs, temporal_attention)
    return _load_original(folder, model_base, load_kwargs, temporal_attention, image_tower, video_tower)


def original_config(
    folder: Path,
    temporal_attention: bool | None = None,
    image_tower: str | None = None,
    video_tower: str | None = None,
) -> VideoLlavaLlamaConfig:
    """The checkpoint's config with both towers' vision configs filled in (from their repositories, or as stored)."""
    raw = json.loads((folder / "config.json").read_text())
    if raw.get("rope_scaling", "") is None:
        del raw["rope_scaling"]  # transformers 4.31 wrote an explicit null, which transformers 5 warns about
    for kind, override in (("image", image_tower), ("video", video_tower)):
        name_key, config_key = f"mm_{kind}_tower", f"mm_{kind}_tower_config"
        if override is not None:
            raw[name_key] = override
            raw[config_key] = None
        if raw.get(name_key) and raw.get(config_key) is None:
            raw[config_key] = tower_vision_config(kind, raw[name_key])
    if temporal_attention is not None:
        raw["temporal_attention"] = temporal_attention
    elif raw.get("mm_video_tower"):
        raw["temporal_attention"] = None  # decide from the tower: on when it has temporal attention
    return VideoLlavaLlamaConfig.from_dict(raw)


def _load_original(
    folder: Path,
    model_base: str | None,
    load_kwargs: dict,
    temporal_attention: bool | None,
    image_tower: str | None,
    video_tower: str | None,
) -> tuple[PreTrainedTokenizerBase, VideoLlavaLlamaForCausalLM, VideoLlavaProcessors]:
    config = original_config(folder, temporal_attention, image_tower, video_tower)
    if model_base is None:
        model, info = VideoLlavaLlamaForCausalLM.from_pretrained(
            str(folder), config=config, output_loading_info=True, **load_kwargs
        )
        check_loading_info(folder, info)
        tokenizer = AutoTokenizer.from_pretrained(str(folder), config=config)  # the config is read already
    else:
        model = _from_base(folder, model_base, config, load_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(model_base)
    image = model.get_image_tower()
    video = model.get_video_tower()
    processors = VideoLlavaProcessors(
        image=languagebind_image_processor(image.config.image_size) if image is not None else None,
        video=LanguageBindVideoProcessor(num_frames=video.num_frames, image_size=video.config.image_size)
        if video is not None
        else None,
    )
    logger.info("Video-LLaVA (original layout) from %s: temporal_attention=%s", folder, model.config.temporal_attention)
    return tokenizer, model, processors


def _from_base(
    folder: Path, model_base: str, config: VideoLlavaLlamaConfig, load_kwargs: dict
) -> VideoLlavaLlamaForCausalLM:
    """The LLM from `model_base`, the towers from their repositories, then the checkpoint's projector / adapter."""
    if (folder / "adapter_config.json").is_file():
        kind = "lora"
    elif (folder / PROJECTOR_FILE).is_file():
        kind = "projector"
    else:
        raise ValueError(
            f"{folder} holds neither a LoRA adapter nor {PROJECTOR_FILE}; with model_base it must be one of them. "
            "Fix: drop model_base for a full Video-LLaVA checkpoint."
        )
    model, info = VideoLlavaLlamaForCausalLM.from_pretrained(
        model_base, config=config, output_loading_info=True, **load_kwargs
    )
    built = ("model.image_tower.", "model.video_tower.", "model.mm_projector.")
    absent = [k for k in info["missing_keys"] if not k.startswith(built)]
    if absent:
        raise ValueError(f"model_base {model_base} lacks language-model weights, e.g. {absent[:3]}")
    for tower, name in (
        (model.get_image_tower(), config.mm_image_tower),
        (model.get_video_tower(), config.mm_video_tower),
    ):
        if tower is not None:
            load_tower_weights(tower, name)
    if kind == "projector":
        projector = strip_prefix(load_weight_file(folder / PROJECTOR_FILE), "model.mm_projector.")
        model.get_model().mm_projector.load_state_dict(projector, strict=True)
        return model
    from peft import PeftModel

    trainables = folder / NON_LORA_FILE
    if not trainables.is_file():
        raise FileNotFoundError(f"{trainables} is missing: a LoRA checkpoint keeps its projector there.")
    state = {k.removeprefix("base_model.model."): v for k, v in load_weight_file(trainables).items()}
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise ValueError(f"{trainables} holds keys this model does not have: {result.unexpected_keys[:5]}")
    return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def load_tower_weights(tower: LanguageBindTower, name: str) -> None:
    """A LanguageBind repository's `vision_model.*` weights into `tower` (every tower parameter must be there).

    Under ZeRO-3 the tower's parameters are partitioned: they are gathered, rank 0 writes, every rank takes part.
    """
    state: dict = {}
    for file in weight_files(checkpoint_folder(name)):
        state.update(strip_prefix(load_weight_file(file, "vision_model."), "vision_model."))
    state.pop("embeddings.position_ids", None)  # a buffer older transformers saved; rebuilt from the config
    if not state:
        raise ValueError(f"{name} holds no `vision_model.*` weights; it is not a LanguageBind model repository.")
    params = list(tower.model.parameters())
    if any(hasattr(p, "ds_id") for p in params):
        import torch.distributed
        from deepspeed import zero

        with zero.GatheredParameters(params, modifier_rank=0):
            if torch.distributed.get_rank() == 0:
                _load_tower_state(tower, state, name)
        return
    _load_tower_state(tower, state, name)


def _load_tower_state(tower: LanguageBindTower, state: dict, name: str) -> None:
    result = tower.model.load_state_dict(state, strict=False)
    if result.missing_keys:
        raise ValueError(
            f"{name} lacks {len(result.missing_keys)} weights of the {tower.model_attr.replace('_', ' ')}, e.g. "
            f"{result.missing_keys[:3]} (a video tower needs LanguageBind_Video_merge's temporal attention)."
        )
    if result.unexpected_keys:
        raise ValueError(f"{name} holds vision weights this tower has no place for: {result.unexpected_keys[:3]}")


def check_loading_info(folder: Path, info: dict) -> None:
    """Refuse a checkpoint whose weights do not cover the model (towers above all) or that holds foreign weights."""
    missing = list(info.get("missing_keys", []))
    unexpected = list(info.get("unexpected_keys", []))
    for kind, prefix in TOWER_PREFIXES.items():
        absent = [k for k in missing if k.startswith(prefix)]
        if absent:
            temporal = [k for k in absent if "temporal" in k]
            detail = (
                f"{len(temporal)} temporal-attention weights (e.g. {temporal[0]!r}) are missing"
                if len(temporal) == len(absent)
                else f"{len(absent)} weights under {prefix!r} are missing (e.g. {absent[0]!r})"
            )
            raise ValueError(
                f"{folder} does not contain the {kind} tower: {detail}. A Video-LLaVA checkpoint stores both towers' "
                f"weights; this one was saved without them (or with another tower). Fix: use a checkpoint saved with "
                f"its towers (LanguageBind/Video-LLaVA-7B), or point mm_{kind}_tower at the tower it was trained with."
            )
    if missing:
        raise ValueError(
            f"{folder} lacks {len(missing)} weights of the model, e.g. {missing[:3]}; refusing random ones."
        )
    if unexpected:
        raise ValueError(
            f"{folder} holds {len(unexpected)} weights this Video-LLaVA model has no place for, e.g. {unexpected[:3]}; "
            "the checkpoint does not match its config."
        )


def _load_hf(
    folder: Path, load_kwargs: dict, temporal_attention: bool | None
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, Any]:
    from transformers import VideoLlavaForConditionalGeneration

    if temporal_attention:
        raise ValueError(
            f"temporal_attention=True, but {folder} is the transformers (-hf) layout, which has no temporal attention "
            "weights (PKU-YuanGroup/Video-LLaVA#223). Fix: load the original layout, or pass temporal_attention=False."
        )
    model, info = VideoLlavaForConditionalGeneration.from_pretrained(
        str(folder), output_loading_info=True, **load_kwargs
    )
    if info.get("missing_keys"):
        raise ValueError(
            f"{folder} lacks weights of VideoLlavaForConditionalGeneration, e.g. {info['missing_keys'][:3]}."
        )
    _log_once(HF_NO_TEMPORAL, folder)
    model.config.temporal_attention = False
    processor = VideoLlavaHfProcessor.from_pretrained(folder)
    return processor.tokenizer, model, processor
