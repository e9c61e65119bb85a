"""Build the model and tokenizer LLaVA trains, in LLaVA's order, from the parsed flags.

Order (LLaVA's `train()`, which users depend on): load the LLM (partitioned at construction under ZeRO-3, so
`init_distributed_for_deepspeed` must already have run) → `use_cache=False` → optional frozen backbone → inputs
that require grads for gradient checkpointing → the vision tower and projector (a fresh or `--pretrain_mm_mlp_adapter`
projector) → which parameters train → the `mm_*` / tokenizer fields of `config.json` → DUET → LoRA → under
DeepSpeed, every trainable parameter in the run's dtype (`lora.cast_trainables`, LLaVA's cast).

`--model_name_or_path`, `--vision_tower` and `--pretrain_mm_mlp_adapter` may be Hub ids: `resolve_model_sources`
turns the first and last into local paths once, on the local main process first (the others then find them in
the cache); the tower keeps its id in `config.json` (`mm_vision_tower`) and resolves when it loads.
"""

import dataclasses
import logging
from dataclasses import dataclass

import torch
from peft import PeftModel
from transformers import AutoTokenizer, PreTrainedTokenizerBase
from transformers.utils import is_flash_attn_2_available

import duet as duet_lib
from duet.budget import n0
from duet.config import DuetConfig
from llava.mm_utils import SUPPORTED_ASPECT_RATIOS
from llava.model.builder import from_pretrained_checked
from llava.model.checkpoint_kinds import llava_config
from llava.model.hub import resolve_model_file, resolve_model_folder
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM
from llava.model.multimodal_encoder.tower_loading import read_tower_config, resolve_vision_tower
from llava.train.arguments import DataArguments, ModelArguments, TrainingArguments
from llava.train.lora import add_lora, cast_trainables

logger = logging.getLogger(__name__)


def compute_dtype(training_args: TrainingArguments) -> torch.dtype:
    """The weights' dtype: `--bf16` / `--fp16`, else fp32."""
    if training_args.bf16:
        return torch.bfloat16
    if training_args.fp16:
        return torch.float16
    return torch.float32


def refuse_unsupported(model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments) -> None:
    """Fail before anything is loaded on LLaVA flags whose code paths LLaVA-1.5 never used and this port omits."""
    problems = []
    if model_args.attn_implementation == "flash_attention_2" and not is_flash_attn_2_available():
        problems.append(
            "--attn_implementation flash_attention_2 without flash-attn on a GPU (install it with "
            "`pip install -e .[gpu] --no-build-isolation`, or use sdpa, which also runs on ROCm and CPUs)"
        )
    if data_args.image_aspect_ratio not in SUPPORTED_ASPECT_RATIOS:
        problems.append(f"--image_aspect_ratio {data_args.image_aspect_ratio} (use one of {SUPPORTED_ASPECT_RATIOS})")
    if model_args.mm_use_im_start_end:
        problems.append(
            "--mm_use_im_start_end True (LLaVA-1.5 trains with False; the splice has no <im_start>/<im_end>)"
        )
    if model_args.mm_use_im_patch_token:
        problems.append("--mm_use_im_patch_token True (LLaVA-1.5 trains with False; the token is never used)")
    if model_args.mm_patch_merge_type != "flat":
        problems.append(f"--mm_patch_merge_type {model_args.mm_patch_merge_type} (LLaVA-1.6 only; use flat)")
    if training_args.bits != 16:
        problems.append(f"--bits {training_args.bits} (no bitsandbytes QLoRA path; use --bits 16 with --lora_enable)")
    if training_args.lora_weight_path:
        problems.append("--lora_weight_path (LLaVA never reads it; resume with --resume_from_checkpoint)")
    if training_args.lora_enable and model_args.tune_mm_mlp_adapter:
        problems.append("--lora_enable with --tune_mm_mlp_adapter (pretraining trains the projector only)")
    if problems:
        raise ValueError("Unsupported flags: " + "; ".join(problems) + ".")


@dataclass(frozen=True)
class Geometry:
    """What the data check and DUET validation need to know about the model, read from configs only."""

    num_layers: int
    num_patches: int
    tower_tokens: int  # features per image without V2V: the patches, plus CLS for `cls_patch`


def resolve_model_sources(model_args: ModelArguments, training_args: TrainingArguments) -> ModelArguments:
    """`model_args` with the LLM and the pretrained projector as local paths (Hub ids fetched, or found offline), and
    the tower fetched into the cache; the local main process resolves first so that ranks do not race to download."""
    with training_args.main_process_first(local=True, desc="resolving Hub ids"):
        folder = resolve_model_folder(
            model_args.model_name_or_path, cache_dir=training_args.cache_dir, role="--model_name_or_path"
        )
        adapter = model_args.pretrain_mm_mlp_adapter
        if adapter is not None:
            adapter = str(
                resolve_model_file(
                    adapter, "mm_projector.bin", cache_dir=training_args.cache_dir, role="--pretrain_mm_mlp_adapter"
                )
            )
        tower = model_args.vision_tower or llava_config(folder).mm_vision_tower
        if tower is not None:
            resolve_vision_tower(tower, cache_dir=training_args.cache_dir)
    if str(folder) != model_args.model_name_or_path:
        logger.info("--model_name_or_path %s resolved to %s", model_args.model_name_or_path, folder)
    return dataclasses.replace(model_args, model_name_or_path=str(folder), pretrain_mm_mlp_adapter=adapter)


def read_geometry(model_args: ModelArguments, cache_dir: str | None) -> Geometry:
    """Decoder depth and patches per image, from `config.json` files, before any weight is loaded."""
    llm = llava_config(model_args.model_name_or_path)
    tower = model_args.vision_tower or llm.mm_vision_tower
    if tower is None:
        raise ValueError(
            f"{model_args.model_name_or_path} has no vision tower: pass --vision_tower (e.g. "
            "openai/clip-vit-large-patch14-336) to train LLaVA from a language model."
        )
    vision = read_tower_config(resolve_vision_tower(tower, cache_dir=cache_dir))
    patches = (vision.image_size // vision.patch_size) ** 2
    cls = 1 if model_args.mm_vision_select_feature == "cls_patch" else 0
    return Geometry(num_layers=llm.num_hidden_layers, num_patches=patches, tower_tokens=patches + cls)


def visual_tokens_per_image(geometry: Geometry, duet_config: DuetConfig | None) -> int:
    """Visual tokens one image puts into the LLM: N0 under DUET's V2V, the tower's features otherwise."""
    if duet_config is not None and duet_config.v2v_enabled:
        return n0(duet_config, geometry.num_patches)
    return geometry.tower_tokens


def load_tokenizer(model_args: ModelArguments, training_args: TrainingArguments) -> PreTrainedTokenizerBase:
    """The LLM's tokenizer, right-padded, `model_max_length` long, with LLaVA's `pad = unk` (plain and v1)."""
    tokenizer = AutoTokenizer.from_pretrained(
        model_args.model_name_or_path,
        model_max_length=training_args.model_max_length,
        padding_side="right",
    )
    if tokenizer.unk_token is None:
        raise ValueError(f"The tokenizer of {model_args.model_name_or_path} has no unk token, which LLaVA pads with.")
    tokenizer.pad_token = tokenizer.unk_token
    return tokenizer


def _attach_vision(model: LlavaLlamaForCausalLM, model_args: ModelArguments) -> None:
    """LLaVA's `initialize_vision_modules`: a new tower and projector, or the checkpoint's own tower loaded."""
    inner = model.get_model()
    if inner.vision_tower is None:
        inner.attach_vision_modules(
            model_args.vision_tower,
            select_layer=model_args.mm_vision_select_layer,
            select_feature=model_args.mm_vision_select_feature,
            projector_type=model_args.mm_projector_type,
            pretrain_mm_mlp_adapter=model_args.pretrain_mm_mlp_adapter,
            attn_implementation=model_args.attn_implementation,
        )
        return
    if model_args.pretrain_mm_mlp_adapter is not None:
        raise ValueError(
            f"{model_args.model_name_or_path} already has a projector; --pretrain_mm_mlp_adapter applies to a "
            "language model (e.g. lmsys/vicuna-7b-v1.5) only."
        )
    inner.vision_tower.attn_implementation = model_args.attn_implementation
    inner.vision_tower.load_model(path=model_args.vision_tower)
    if model_args.vision_tower is not None:
        model.config.mm_vision_tower = model_args.vision_tower


def _set_trainable(model: LlavaLlamaForCausalLM, model_args: ModelArguments, training_args: TrainingArguments) -> None:
    """The projector trains unless frozen; `tune_mm_mlp_adapter` freezes everything else; the tower stays frozen."""
    projector = model.get_model().mm_projector.parameters()
    if model_args.tune_mm_mlp_adapter:
        model.requires_grad_(False)
    for param in projector:
        param.requires_grad_(not training_args.freeze_mm_mlp_adapter)


def _record_config(
    model: LlavaLlamaForCausalLM, model_args: ModelArguments, data_args: DataArguments, training_args: TrainingArguments
) -> None:
    """The fields LLaVA writes into `config.json` so that loaders and eval reproduce the training setup."""
    config = model.config
    config.architectures = [type(model).__name__]
    config.image_aspect_ratio = data_args.image_aspect_ratio
    config.tokenizer_padding_side = "right"
    config.tokenizer_model_max_length = training_args.model_max_length
    config.tune_mm_mlp_adapter = model_args.tune_mm_mlp_adapter
    config.freeze_mm_mlp_adapter = training_args.freeze_mm_mlp_adapter
    config.mm_projector_lr = training_args.mm_projector_lr
    config.mm_use_im_start_end = model_args.mm_use_im_start_end
    config.mm_use_im_patch_token = model_args.mm_use_im_patch_token
    config.mm_patch_merge_type = model_args.mm_patch_merge_type


def build_model(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: TrainingArguments,
    duet_config: DuetConfig | None,
) -> LlavaLlamaForCausalLM | PeftModel:
    """The model to hand to `LLaVATrainer` (a `PeftModel` around it with `--lora_enable`)."""
    dtype = compute_dtype(training_args)
    model, _ = from_pretrained_checked(
        model_args.model_name_or_path,
        llava_config(model_args.model_name_or_path),
        {"attn_implementation": model_args.attn_implementation, "dtype": dtype},
    )
    model.config.use_cache = False
    if model_args.freeze_backbone:
        model.get_model().requires_grad_(False)
    if training_args.gradient_checkpointing:
        model.enable_input_require_grads()
    _attach_vision(model, model_args)
    model.get_vision_tower().vision_tower.to(dtype=dtype, device=training_args.device)
    _set_trainable(model, model_args, training_args)
    _record_config(model, model_args, data_args, training_args)
    if model.duet is not None and duet_config is None:
        logger.warning(
            "%s was trained with DUET (%s); no DUET flag was given, so this run trains without compression. Pass "
            "--duet_preset or the explicit DUET flags to keep it.",
            model_args.model_name_or_path,
            model.duet,
        )
    duet_lib.apply(model, duet_config)
    if training_args.lora_enable:
        model = add_lora(
            model, training_args.lora_r, training_args.lora_alpha, training_args.lora_dropout, training_args.lora_bias
        )
        for param in model.get_model().mm_projector.parameters():
            param.requires_grad_(not training_args.freeze_mm_mlp_adapter)
    if training_args.deepspeed:
        cast_trainables(model, dtype)
    return model
