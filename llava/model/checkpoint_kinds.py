"""Recognise what a checkpoint folder holds, from its files rather than from its name.

LLaVA dispatched on substrings of the folder name ('llava', 'lora'), which users trip over constantly (a folder
without 'llava' in its name silently loads as a plain LM). Here the files decide; the name is not consulted.
"""

import json
from enum import StrEnum
from pathlib import Path

from llava.model.configuration_llava import LEGACY_MODEL_TYPES, LLAVA_MODEL_TYPE, LlavaConfig
from llava.model.hf_native import is_hf_native_config

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


class CheckpointKind(StrEnum):
    """The checkpoint layouts `load_pretrained_model` accepts."""

    FULL = "full"  # liuhaotian/llava-v1.5-* or our own saves: Llama weights + mm_projector, tower by reference
    PROJECTOR = "projector"  # pretraining output: config.json + mm_projector.bin, needs the base LLM
    LORA = "lora"  # adapter + non_lora_trainables.bin, needs the base LLM
    HF_NATIVE = "hf_native"  # llava-hf/llava-1.5-*-hf: text_config / vision_config, tower weights inside


# Decoder families whose config.json reads as a LLaVA-1.5 (Llama) config: a Llama LLM that training starts from, and
# LLaVA checkpoints under their current and released `model_type`.
LLAMA_FAMILY = ("llama", LLAVA_MODEL_TYPE, *LEGACY_MODEL_TYPES)


def read_config_dict(model_path: str | Path) -> dict:
    path = Path(model_path) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {model_path!s} is not a checkpoint folder.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}:{error.colno}: malformed JSON ({error.msg}).") from error


def llava_config(model_path: str | Path) -> LlavaConfig:
    """A folder's config.json as a `LlavaConfig`: a LLaVA checkpoint, or the Llama LLM that training starts from.

    Read from the dict rather than through `from_pretrained`, whose "model of type llama/llava to instantiate
    llava_llama" warning is exactly the expected case here; any other family is refused with the reason.
    """
    raw = read_config_dict(model_path)
    model_type = raw.get("model_type")
    if model_type not in LLAMA_FAMILY:
        raise ValueError(
            f"{model_path!s}/config.json has model_type {model_type!r}: LLaVA-1.5 here is built on a Llama decoder "
            "(e.g. lmsys/vicuna-7b-v1.5 or a liuhaotian/llava-v1.5-* checkpoint)."
        )
    return LlavaConfig.from_dict({k: v for k, v in raw.items() if k != "model_type"})


def has_weights(model_path: str | Path) -> bool:
    return any((Path(model_path) / name).is_file() for name in WEIGHT_FILES)


def detect_checkpoint_kind(model_path: str | Path, model_base: str | None) -> CheckpointKind:
    """Classify `model_path`; kinds that need a base LLM fail here, with the fix, when `model_base` is missing."""
    folder = Path(model_path)
    config = read_config_dict(folder)
    if (folder / "adapter_config.json").is_file():
        kind = CheckpointKind.LORA
    elif is_hf_native_config(config):
        kind = CheckpointKind.HF_NATIVE
    elif (folder / "mm_projector.bin").is_file() and (model_base is not None or not has_weights(folder)):
        kind = CheckpointKind.PROJECTOR
    else:
        kind = CheckpointKind.FULL
    if kind in (CheckpointKind.LORA, CheckpointKind.PROJECTOR) and model_base is None:
        raise ValueError(
            f"{model_path!s} is a {kind.value} checkpoint: it does not contain the language model. Pass the LLM it "
            "was trained from as `model_base` (e.g. --model-base lmsys/vicuna-7b-v1.5)."
        )
    if kind in (CheckpointKind.FULL, CheckpointKind.HF_NATIVE) and not has_weights(folder):
        raise FileNotFoundError(
            f"{model_path!s} has a config.json but no weights (model.safetensors or pytorch_model.bin, possibly "
            "sharded): the download or copy is incomplete. Fix: fetch the weight files too (`hf download <id>`), "
            "or, for a projector-only or LoRA checkpoint, pass its base LLM as model_base."
        )
    return kind
