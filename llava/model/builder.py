"""`load_pretrained_model`: LLaVA's loader, for every checkpoint kind, through one code path.

Returns `(tokenizer, model, image_processor, context_len)` as LLaVA's does. Differences that users ask for:
- `model_path`, `model_base`, `vision_tower` and the checkpoint's `mm_vision_tower` may each be a folder or a Hub id;
  ids resolve through the Hugging Face cache (`llava.model.hub`: `HF_HOME`, `HF_HUB_OFFLINE`, `revision`, `token`);
- the checkpoint kind is read from the resolved folder's files (`checkpoint_kinds`), not from substrings of its name;
- nothing loads silently wrong: a weight the checkpoint lacks (which transformers would initialise at random) stops
  the load with the names of the weights; the one expected absence, the released layout's tower, is loaded from the
  tower folder and checked there;
- `device_map`, `torch_dtype`, `load_4bit` / `load_8bit` apply to every kind, and the tower follows the projector's
  device and the weights' dtype;
- a `duet` setting stored in config.json is validated against the model's geometry here, at load, not mid-forward;
- `duet=` turns DUET on at load (a preset name, a `DuetConfig`, or a dict; "full" turns a stored setting off);
- `device` / `torch_dtype` / `attn_implementation` default to what the machine supports (CUDA + fp16, else CPU +
  fp32; SDPA) instead of assuming a GPU.
Weights are read with safetensors or `torch.load(weights_only=True)`; `trust_remote_code` is never used.
"""

import logging
import os
import warnings
from pathlib import Path

import torch
from transformers import AutoTokenizer, CLIPImageProcessorPil, PreTrainedTokenizerBase
from transformers.utils import is_flash_attn_2_available

import duet as duet_lib
from duet.config import DuetConfig
from llava.model.checkpoint_kinds import CheckpointKind, detect_checkpoint_kind, llava_config, read_config_dict
from llava.model.configuration_llava import LlavaConfig
from llava.model.hf_native import KEY_MAPPING, llava_config_from_hf
from llava.model.hub import resolve_model_folder
from llava.model.language_model.llava_llama import VISION_TOWER_PREFIX, LlavaLlamaForCausalLM
from llava.model.state_dict_io import load_weight_file, strip_prefix, weight_files, weight_names
from llava.model.video_llava_loading import load_video_llava, video_llava_layout

logger = logging.getLogger(__name__)
DEFAULT_CONTEXT = 2048
PROJECTOR_PREFIX = "model.mm_projector."


def _resolve_device(device: str | None) -> str:
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _resolve_dtype(torch_dtype: torch.dtype | str | None, device: str) -> torch.dtype:
    if isinstance(torch_dtype, str):
        dtype = getattr(torch, torch_dtype.removeprefix("torch."), None)
        if not isinstance(dtype, torch.dtype):
            raise ValueError(f"torch_dtype={torch_dtype!r} is not a torch dtype; use e.g. 'float16' or 'bfloat16'.")
        return dtype
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


def _quantization_config(load_8bit: bool, load_4bit: bool, dtype: torch.dtype):
    """LLaVA's bitsandbytes settings; the projector and lm_head stay in `dtype` (LLaVA's training skipped the
    projector too), which also lets a projector-only checkpoint load its float weights into it."""
    if not (load_8bit or load_4bit):
        return None
    if load_8bit and load_4bit:
        raise ValueError("Pass load_8bit or load_4bit, not both.")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise ImportError("load_8bit / load_4bit need bitsandbytes: `pip install bitsandbytes`.") from error
    from transformers import BitsAndBytesConfig

    skip = ["mm_projector", "lm_head"]
    if load_8bit:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_compute_dtype=dtype,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
        llm_int8_skip_modules=skip,
    )


def read_llava_config(model_path: str | Path) -> LlavaConfig:
    """The LLaVA config of a checkpoint folder, refusing folders that are not LLaVA."""
    config = llava_config(model_path)
    if not config.mm_vision_tower:
        raise ValueError(
            f"{model_path!s}/config.json has no `mm_vision_tower`: it is not a LLaVA checkpoint (a plain language "
            "model cannot take images). For a projector-only or LoRA checkpoint pass its folder as `model_path` and "
            "the LLM as `model_base`."
        )
    return config


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
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | None = None,
    temporal_attention: bool | None = None,
    image_tower: str | None = None,
    video_tower: str | None = None,
) -> tuple[PreTrainedTokenizerBase, LlavaLlamaForCausalLM, CLIPImageProcessorPil, int]:
    """Load any LLaVA-1.5 checkpoint kind, or Video-LLaVA in either layout, from a folder or a Hub id.

    `model_name` is accepted for LLaVA compatibility and not used. `revision` applies to `model_path`; `token` and
    `cache_dir` to every Hub lookup (model, base, tower). `temporal_attention`, `image_tower` and `video_tower` apply
    to Video-LLaVA only (`llava.model.video_llava_loading`); for it the third value is its processors
    (`{'image', 'video'}` for the original layout, `llava.video.hf_processing.VideoLlavaHfProcessor` for -hf).
    """
    del model_name
    folder = resolve_model_folder(model_path, revision=revision, token=token, cache_dir=cache_dir, role="model_path")
    base = (
        resolve_model_folder(model_base, token=token, cache_dir=cache_dir, role="model_base")
        if model_base is not None
        else None
    )
    video_layout = video_llava_layout(str(folder))
    if video_layout is None and (temporal_attention is not None or image_tower or video_tower):
        raise ValueError(
            f"temporal_attention / image_tower / video_tower apply to Video-LLaVA checkpoints; {model_path} is not one."
        )
    if video_layout is not None:
        if vision_tower is not None:
            raise ValueError(
                f"{model_path} is Video-LLaVA, which has two towers: pass image_tower= / video_tower= instead of "
                "vision_tower=."
            )
        return _load_video(
            video_layout, folder, base, device, device_map, torch_dtype, attn_implementation, use_flash_attn,
            load_8bit, load_4bit, duet, temporal_attention, image_tower, video_tower,
        )  # fmt: skip
    kind = detect_checkpoint_kind(folder, base)
    device = _resolve_device(device)
    dtype = _resolve_dtype(torch_dtype, device)
    attn = _resolve_attention(attn_implementation, use_flash_attn)
    if (load_8bit or load_4bit) and kind is CheckpointKind.LORA:
        raise ValueError(
            f"{model_path} is a LoRA checkpoint: merging its adapter into 4/8-bit weights would round the update away. "
            "Fix: merge once in 16 bits and save (`_, model, _, _ = load_pretrained_model(path, base)`, then "
            "`model.save_pretrained(out)` and the tokenizer), then load `out` with load_4bit / load_8bit."
        )
    quantization = _quantization_config(load_8bit, load_4bit, dtype)
    if quantization is not None and device_map is None:
        device_map = {"": device}  # quantized weights are placed while loading; they cannot be moved afterwards
    load_kwargs = {"dtype": dtype, "attn_implementation": attn, "device_map": device_map}
    if quantization is not None:
        load_kwargs["quantization_config"] = quantization

    if kind is CheckpointKind.HF_NATIVE:
        # The tower is loaded by reference from the native checkpoint itself; a Hub id stays an id so that a saved
        # copy of this model keeps pointing at a tower every machine can fetch.
        by_id = not Path(os.path.expanduser(str(model_path))).is_dir() and revision is None
        reference = str(model_path) if by_id else str(folder.resolve())
        config = llava_config_from_hf(read_config_dict(folder), mm_vision_tower=reference)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model, _ = from_pretrained_checked(folder, config, load_kwargs, key_mapping=KEY_MAPPING)
    else:
        config = read_llava_config(folder)
        _check_stored_duet(config, folder, override=duet)
        weights_from = base if kind in (CheckpointKind.PROJECTOR, CheckpointKind.LORA) else folder
        tokenizer = AutoTokenizer.from_pretrained(str(weights_from))
        expected_missing = (PROJECTOR_PREFIX,) if weights_from is base else ()
        model, projector_missing = from_pretrained_checked(weights_from, config, load_kwargs, expected_missing)
        if kind is CheckpointKind.PROJECTOR:
            _load_projector(model, folder / "mm_projector.bin")
        elif kind is CheckpointKind.LORA:
            model = _merge_lora(model, folder, projector_missing)

    _load_tower(model, folder if kind is CheckpointKind.FULL else None, vision_tower, attn, dtype, token, cache_dir)
    if device_map is None:
        model.to(device)
    model.eval()
    _enable_duet(model, duet, folder)
    context_len = model.config.tokenizer_model_max_length or getattr(model.config, "max_sequence_length", None)
    return tokenizer, model, model.get_vision_tower().image_processor, context_len or DEFAULT_CONTEXT


def _load_video(
    layout, folder: Path, base: Path | None, device: str | None, device_map, torch_dtype, attn_implementation,
    use_flash_attn: bool, load_8bit: bool, load_4bit: bool, duet, temporal_attention, image_tower, video_tower,
) -> tuple[PreTrainedTokenizerBase, torch.nn.Module, object, int]:  # fmt: skip
    """Video-LLaVA through `llava.model.video_llava_loading`, with the same device / dtype / DUET handling."""
    device = _resolve_device(device)
    dtype = _resolve_dtype(torch_dtype, device)
    load_kwargs = {
        "dtype": dtype,
        "attn_implementation": _resolve_attention(attn_implementation, use_flash_attn),
        "device_map": device_map,
        "quantization_config": _quantization_config(load_8bit, load_4bit, dtype),
    }
    tokenizer, model, processors = load_video_llava(
        layout, str(folder), str(base) if base is not None else None, load_kwargs,
        temporal_attention=temporal_attention, image_tower=image_tower, video_tower=video_tower,
    )  # fmt: skip
    if device_map is None:
        model.to(device)
    model.eval()
    if duet is not None:
        duet_lib.apply(model, duet)
    context_len = getattr(model.config, "tokenizer_model_max_length", None) or getattr(
        model.config, "max_sequence_length", None
    )
    return tokenizer, model, processors, context_len or DEFAULT_CONTEXT


def from_pretrained_checked(
    folder: Path,
    config: LlavaConfig,
    load_kwargs: dict,
    expected_missing: tuple[str, ...] = (),
    key_mapping: dict[str, str] | None = None,
) -> tuple[LlavaLlamaForCausalLM, set[str]]:
    """`from_pretrained`, but a weight the checkpoint lacks is an error instead of a random initialisation.

    `expected_missing` are prefixes that a later step fills in (the projector of a projector-only or LoRA checkpoint
    whose base is a plain LLM); the missing keys under them are returned, for that step to check.
    """
    extra = {"key_mapping": key_mapping} if key_mapping is not None else {}
    model, info = LlavaLlamaForCausalLM.from_pretrained(
        str(folder), config=config, output_loading_info=True, **load_kwargs, **extra
    )
    deferred = {k for k in info["missing_keys"] if expected_missing and k.startswith(expected_missing)}
    missing = sorted(set(info["missing_keys"]) - deferred)
    mismatched = sorted(str(entry) for entry in info["mismatched_keys"])
    if missing or mismatched:
        raise ValueError(
            f"The checkpoint {folder} does not hold every weight of the model it describes: "
            + (f"missing {_names(missing)}" if missing else "")
            + ("; " if missing and mismatched else "")
            + (f"wrong shape {_names(mismatched)}" if mismatched else "")
            + ". Loading would leave these weights randomly initialised. Fix: re-download or re-save the checkpoint "
            "(an interrupted download leaves shards out), or pass the right folder; for a projector-only or LoRA "
            "checkpoint pass its base LLM as model_base."
        )
    return model, deferred


def _names(keys: list[str], shown: int = 8) -> str:
    more = f" ... ({len(keys) - shown} more)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _load_projector(model: LlavaLlamaForCausalLM, path: Path) -> None:
    projector = strip_prefix(load_weight_file(path), PROJECTOR_PREFIX)
    module = model.get_model().mm_projector
    result = module.load_state_dict(projector, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path} does not fit the projector described by config.json ({model.config.mm_projector_type}): missing "
            f"{result.missing_keys}, unexpected {result.unexpected_keys}. Fix: pass the config.json that was saved "
            "with this mm_projector.bin."
        )


def _merge_lora(model: LlavaLlamaForCausalLM, folder: Path, projector_missing: set[str]) -> LlavaLlamaForCausalLM:
    """LLaVA's LoRA load: non-LoRA trainables (projector, ...) first, then the adapter, then merge.

    `projector_missing` are the projector weights the base lacked (all of them for a plain LLM base); the checkpoint's
    `non_lora_trainables.bin` must supply them.
    """
    try:
        from peft import PeftConfig, get_peft_model
    except ImportError as error:
        raise ImportError("LoRA checkpoints need peft: `pip install -e .[train]`.") from error
    trainables_path = folder / "non_lora_trainables.bin"
    provided: set[str] = set()
    if trainables_path.is_file():
        trainables = {k.removeprefix("base_model.model."): v for k, v in load_weight_file(trainables_path).items()}
        result = model.load_state_dict(trainables, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"{trainables_path} holds keys this model does not have: {_names(result.unexpected_keys)}")
        provided = set(trainables)
    if not projector_missing <= provided:
        raise ValueError(
            f"The LoRA checkpoint {folder} has no projector weights ({_names(sorted(projector_missing - provided))} are "
            "in neither non_lora_trainables.bin nor the base model). Fix: copy the training run's "
            "non_lora_trainables.bin into the folder, or use a LLaVA checkpoint with a projector as model_base."
        )
    config = PeftConfig.from_pretrained(str(folder))
    with warnings.catch_warnings():
        # peft probes transformers' deprecated `is_gradient_checkpointing`; nothing for the user to act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, config)
    result = peft_model.load_adapter(str(folder), adapter_name="default")
    missing = [k for k in result.missing_keys if "lora_" in k]
    if missing:
        raise ValueError(
            f"The adapter in {folder} lacks LoRA weights for {_names(missing)}: they would stay at their random "
            "initialisation. Fix: re-save the adapter (adapter_model.safetensors) from the training run."
        )
    return peft_model.merge_and_unload()


def _load_tower(
    model: LlavaLlamaForCausalLM,
    checkpoint: Path | None,
    override: str | None,
    attn: str,
    dtype: torch.dtype,
    token: str | bool | None,
    cache_dir: str | None,
) -> None:
    """Load the CLIP tower by reference (`vision_tower=` or `mm_vision_tower`), then any tower weights the checkpoint
    itself holds (a checkpoint trained with an unfrozen tower), onto the projector's device and in `dtype`."""
    tower = model.get_vision_tower()
    tower.attn_implementation = attn
    tower.load_model(path=override, token=token, cache_dir=cache_dir)
    if override is not None:
        model.config.mm_vision_tower = override
    if checkpoint is not None:
        _load_checkpoint_tower_weights(model, checkpoint)
    projector_device = next(model.get_model().mm_projector.parameters()).device
    tower.vision_tower.to(device=projector_device, dtype=dtype)


def _load_checkpoint_tower_weights(model: LlavaLlamaForCausalLM, checkpoint: Path) -> None:
    """Tower weights stored in a LLaVA checkpoint win over the referenced tower: ignoring them would load silently
    wrong. They must cover the whole tower."""
    prefix = VISION_TOWER_PREFIX + "vision_tower."
    names = [name for name in weight_names(checkpoint) if name.startswith(prefix)]
    if not names:
        return
    state: dict[str, torch.Tensor] = {}
    for file in weight_files(checkpoint):
        weights = strip_prefix(load_weight_file(file, keys_with_prefix=prefix), prefix)
        state.update({key.removeprefix("vision_model."): value for key, value in weights.items()})  # transformers 4
    tower = model.get_vision_tower()
    result = tower.vision_tower.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{checkpoint} holds vision tower weights that do not fit {model.config.mm_vision_tower}: missing "
            f"{_names(result.missing_keys)}, unexpected {_names(result.unexpected_keys)}."
        )
    tower.weights_in_checkpoint = True
    logger.info("%s holds its own vision tower weights; they replace those of %s.", checkpoint, tower.vision_tower_name)


def _check_stored_duet(config: LlavaConfig, folder: Path, override: DuetConfig | str | dict | None) -> None:
    """A malformed stored `duet` setting fails naming the file; an explicit `duet=` replaces it without reading it."""
    if override is not None:
        config.duet = None
        return
    if config.duet:
        try:
            DuetConfig.from_dict(config.duet)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{folder / 'config.json'}: its `duet` setting is invalid: {error}") from error


def _enable_duet(model: LlavaLlamaForCausalLM, duet: DuetConfig | str | dict | None, folder: Path) -> None:
    """Apply `duet=`, or validate the stored setting against this model's geometry (layers, patches per image)."""
    if duet is not None:
        duet_lib.apply(model, duet)
        return
    if model.duet is None:
        return
    try:
        duet_lib.apply(model, model.duet)
    except ValueError as error:
        raise ValueError(
            f"{folder / 'config.json'} stores a `duet` setting that does not fit this model: {error} Fix: correct "
            "or remove the `duet` entry, or pass duet= (a preset, or 'full' to switch DUET off)."
        ) from error
