"""Recognise what a checkpoint folder holds, from its files rather than from its name.

LLaVA dispatched on substrings of the folder name ('llava', 'lora'), which users trip over constantly (a folder
without 'llava' in its name silently loads as a plain LM). Here the files decide; the name is not consulted.
"""

import json
from enum import StrEnum
from pathlib import Path

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


def read_config_dict(model_path: str | Path) -> dict:
    path = Path(model_path) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {model_path!s} is not a checkpoint folder.")
    return json.loads(path.read_text())


def has_weights(model_path: str | Path) -> bool:
    return any((Path(model_path) / name).is_file() for name in WEIGHT_FILES)


def detect_checkpoint_kind(model_path: str | Path, model_base: str | None) -> CheckpointKind:
    """Classify `model_path`; kinds that need a base LLM fail here, with the fix, when `model_base` is missing."""
    folder = Path(model_path)
    config = read_config_dict(folder)
    if (folder / "adapter_config.json").is_file():
        kind = CheckpointKind.LORA
    elif "text_config" in config and "vision_config" in config:
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
    return kind
