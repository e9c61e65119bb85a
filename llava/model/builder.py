"""`load_pretrained_model`: LLaVA's loader, for every checkpoint kind, through one code path.

Returns `(tokenizer, model, image_processor, context_len)` as LLaVA's does. Differences that users ask for:
- the checkpoint kind is read from the folder's files (`checkpoint_kinds`), not from substrings of its name;
- `vision_tower=` redirects `mm_vision_tower` (machines without hub access keep CLIP in a local folder);
- `duet=` turns DUET on at load (a preset name, a `DuetConfig`, or a dict);
- `device` / `device_map` / `torch_dtype` / `attn_implementation` default to what the machine supports (CUDA + fp16,
  else CPU + fp32; SDPA) instead of assuming a GPU.
Weights are read with safetensors or `torch.load(weights_only=True)`; `trust_remote_code` is never used.
"""

import logging
from pathlib import Path

import torch
from transformers import AutoTokenizer, CLIPImageProcessor, PreTrainedTokenizerBase
from transformers.utils import is_flash_attn_2_available

import duet as duet_lib
from duet.config import DuetConfig
from llava.model.checkpoint_kinds import CheckpointKind, detect_checkpoint_kind, read_config_dict
from llava.model.configuration_llava import LlavaConfig
from llava.model.hf_native import hf_image_processor, llava_config_from_hf, read_hf_native
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM
from llava.model.state_dict_io import load_weight_file, strip_prefix
from llava.model.video_llava_loading import load_video_llava, video_llava_layout

logger = logging.getLogger(__name__)
DEFAULT_CONTEXT = 2048


def _resolve_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _resolve_dtype(torch_dtype: torch.dtype | str | None, device: str) -> torch.dtype:
    if isinstance(torch_dtype, str):
        return getattr(torch, torch_dtype)
    if torch_dtype is not None:
        return torch_dtype
    return torch.float16 if device.startswith("cuda") else torch.float32


def _resolve_attention(attn_implementation: str | None, use_flash_attn: bool) -> str:
    attn = attn_implementation or ("flash_attention_2" if use_flash_attn else "sdpa")
    if attn == "flash_attention_2" and not is_flash_attn_2_available():
        raise ValueError(
            "attn_implementation='flash_attention_2' needs the flash-attn package and a CUDA GPU; install it with "
            "`pip install -e .[gpu] --no-build-isolation`, or use attn_implementation='sdpa'."
        )
    return attn


def _quantization_config(load_8bit: bool, load_4bit: bool):
    if not (load_8bit or load_4bit):
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise ImportError("load_8bit / load_4bit need bitsandbytes: `pip install bitsandbytes`.") from error
    from transformers import BitsAndBytesConfig

    if load_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_compute_dtype=torch.float16,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
    )


def read_llava_config(model_path: str | Path) -> LlavaConfig:
    """The LLaVA config of a checkpoint, refusing folders that are not LLaVA."""
    raw = read_config_dict(model_path)
    if not raw.get("mm_vision_tower"):
        raise ValueError(
            f"{model_path!s}/config.json has no `mm_vision_tower`: it is not a LLaVA checkpoint (a plain language "
            "model cannot take images). For a projector-only or LoRA checkpoint pass its folder as `model_path` and "
            "the LLM as `model_base`."
        )
    return LlavaConfig.from_pretrained(str(model_path))


def load_pretrained_model(
    model_path: str,
    model_base: str | None = None,
    model_name: str | None = None,
    load_8bit: bool = False,
    load_4bit: bool = False,
    device_map: str | dict | None = None,
    device: str | None = None,
    use_flash_attn: bool = False,
    *,
    torch_dtype: torch.dtype | str | None = None,
    attn_implementation: str | None = None,
    vision_tower: str | None = None,
    duet: DuetConfig | str | dict | None = None,
    temporal_attention: bool | None = None,
    image_tower: str | None = None,
    video_tower: str | None = None,
) -> tuple[PreTrainedTokenizerBase, LlavaLlamaForCausalLM, CLIPImageProcessor, int]:
    """Load any LLaVA-1.5 checkpoint kind, or Video-LLaVA in either layout (`llava.model.video_llava_loading`).

    `model_name` is accepted for LLaVA compatibility and not used. `temporal_attention`, `image_tower` and
    `video_tower` apply to Video-LLaVA only; for it the third value is its processors (`{'image', 'video'}` for the
    original layout, `llava.video.hf_processing.VideoLlavaHfProcessor` for the -hf one).
    """
    del model_name
    video_layout = video_llava_layout(model_path)
    kind = detect_checkpoint_kind(model_path, model_base) if video_layout is None else None
    if video_layout is None and (temporal_attention is not None or image_tower or video_tower):
        raise ValueError(
            f"temporal_attention / image_tower / video_tower apply to Video-LLaVA checkpoints; {model_path} is not one."
        )
    if video_layout is not None and vision_tower is not None:
        raise ValueError(
            f"{model_path} is Video-LLaVA, which has two towers: pass image_tower= / video_tower= instead of vision_tower=."
        )
    device = _resolve_device(device)
    dtype = _resolve_dtype(torch_dtype, device)
    attn = _resolve_attention(attn_implementation, use_flash_attn)
    load_kwargs = {
        "dtype": dtype,
        "attn_implementation": attn,
        "device_map": device_map,
        "quantization_config": _quantization_config(load_8bit, load_4bit),
    }
    if video_layout is not None:
        tokenizer, model, image_processor = load_video_llava(
            video_layout, model_path, model_base, load_kwargs,
            temporal_attention=temporal_attention, image_tower=image_tower, video_tower=video_tower,
        )  # fmt: skip
    elif kind is CheckpointKind.HF_NATIVE:
        tokenizer, model, image_processor = _load_hf_native(model_path, load_kwargs)
    else:
        tokenizer, model = _load_llava(kind, model_path, model_base, load_kwargs)
        tower = model.get_vision_tower()
        tower.attn_implementation = attn
        tower.load_model(path=vision_tower)
        if vision_tower is not None:
            model.config.mm_vision_tower = vision_tower
        tower.vision_tower.to(dtype=dtype)
        image_processor = tower.image_processor
    if device_map is None:
        model.to(device)
    model.eval()
    if duet is not None:
        duet_lib.apply(model, duet)
    context_len = getattr(model.config, "tokenizer_model_max_length", None) or getattr(model.config, "max_sequence_length", None)
    return tokenizer, model, image_processor, context_len or DEFAULT_CONTEXT


def _load_llava(
    kind: CheckpointKind, model_path: str, model_base: str | None, load_kwargs: dict
) -> tuple[PreTrainedTokenizerBase, LlavaLlamaForCausalLM]:
    config = read_llava_config(model_path)
    weights_from = model_base if kind in (CheckpointKind.PROJECTOR, CheckpointKind.LORA) else model_path
    tokenizer = AutoTokenizer.from_pretrained(weights_from)
    model = LlavaLlamaForCausalLM.from_pretrained(weights_from, config=config, **load_kwargs)
    if kind is CheckpointKind.PROJECTOR:
        projector = strip_prefix(load_weight_file(Path(model_path) / "mm_projector.bin"), "model.mm_projector.")
        model.get_model().mm_projector.load_state_dict(projector, strict=True)
    elif kind is CheckpointKind.LORA:
        model = _merge_lora(model, model_path)
    return tokenizer, model


def _merge_lora(model: LlavaLlamaForCausalLM, model_path: str) -> LlavaLlamaForCausalLM:
    """LLaVA's LoRA load: non-LoRA trainables (projector, ...) first, then the adapter, then merge."""
    try:
        from peft import PeftModel
    except ImportError as error:
        raise ImportError("LoRA checkpoints need peft: `pip install -e .[train]`.") from error
    trainables_path = Path(model_path) / "non_lora_trainables.bin"
    if trainables_path.is_file():
        trainables = load_weight_file(trainables_path)
        trainables = {k.removeprefix("base_model.model."): v for k, v in trainables.items()}
        result = model.load_state_dict(trainables, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"{trainables_path} holds keys this model does not have: {result.unexpected_keys[:5]}")
    peft_model = PeftModel.from_pretrained(model, model_path)
    return peft_model.merge_and_unload()


def _load_hf_native(
    model_path: str, load_kwargs: dict
) -> tuple[PreTrainedTokenizerBase, LlavaLlamaForCausalLM, CLIPImageProcessor]:
    config, vision_config = llava_config_from_hf(read_config_dict(model_path), mm_vision_tower=str(model_path))
    llava_state, tower_state = read_hf_native(model_path)
    image_processor = hf_image_processor(model_path)
    model = LlavaLlamaForCausalLM._from_config(
        config, attn_implementation=load_kwargs["attn_implementation"], dtype=load_kwargs["dtype"]
    )
    missing, unexpected = model.load_state_dict(llava_state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("model.vision_tower.")]:
        raise ValueError(f"Converted native checkpoint does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    tower = model.get_vision_tower()
    tower.attn_implementation = load_kwargs["attn_implementation"]
    tower.build_from_config(vision_config, image_processor)
    tower.vision_tower.load_state_dict(tower_state, strict=True)
    tower.vision_tower.to(dtype=load_kwargs["dtype"])
    return AutoTokenizer.from_pretrained(model_path), model, image_processor
