"""LoRA on the LLM's linear layers, and the two files LLaVA's LoRA checkpoints hold (LLaVA's `finetune_lora.sh`).

LLaVA adapts every `nn.Linear` of the language model except `lm_head` (`find_all_linear_names`), never the
projector or the vision tower. LLaVA wraps the LLM before the tower exists, so its suffix list (`q_proj`, ...)
cannot reach CLIP's layers of the same names; here the tower is already attached, so the targets are a regex over
full module names that excludes the vision path. The projector is trained in full next to the adapter and saved separately in
`non_lora_trainables.bin` under the PEFT wrapper's names (`base_model.model.model.mm_projector.0.weight`), which
`load_pretrained_model` strips again when it merges the adapter.

Dtypes. PEFT creates each adapter in its base layer's dtype and then, by default (`autocast_adapter_dtype`), upcasts
bf16 / fp16 adapters to fp32 — a default that appeared after LLaVA, whose `train.py` trained bf16 adapters (it casts
the model, and for quantized runs every `LoraLayer`, to bf16). fp32 adapters are right for a plain `Trainer` run
(the optimizer then steps fp32 weights), but DeepSpeed flattens all trainable parameters into one buffer and asserts
a single dtype, so with `--bf16 True` and the bf16 projector LLaVA's `finetune_lora.sh` died with a bare
`AssertionError`. Under DeepSpeed the trainables are therefore cast to the run's dtype (`cast_trainables`), as
LLaVA's loop does; DeepSpeed keeps the fp32 master copies itself.
"""

import warnings
from collections import defaultdict

import torch
from peft import LoraConfig, PeftModel, get_peft_model

from llava.train.zero import gathered_state

MULTIMODAL_KEYWORDS = ("mm_projector", "vision_tower", "vision_resampler", "image_tower", "video_tower")  # + Video-LLaVA
LORA_BIASES = ("none", "all", "lora_only")


def find_all_linear_names(model: torch.nn.Module) -> list[str]:
    """Suffixes of the LLM's linear layers (q_proj, k_proj, ..., down_proj): LLaVA's LoRA targets."""
    names: set[str] = set()
    for name, module in model.named_modules():
        if any(keyword in name for keyword in MULTIMODAL_KEYWORDS):
            continue
        if isinstance(module, torch.nn.Linear):
            names.add(name.split(".")[-1])
    names.discard("lm_head")
    return sorted(names)


def lora_target_pattern(model: torch.nn.Module) -> str:
    """A regex (PEFT full-matches it against module names) for the LLM's linear layers, excluding the vision path."""
    excluded = "|".join(MULTIMODAL_KEYWORDS)
    suffixes = "|".join(find_all_linear_names(model))
    return rf"^(?!.*(?:{excluded})).*\.(?:{suffixes})$"


def dtypes_by_module(model: torch.nn.Module, skip: tuple[str, ...] = ("vision_tower",)) -> dict[torch.dtype, list[str]]:
    """`{dtype: [parameter names]}` over the floating-point parameters outside `skip` (the frozen tower by default)."""
    found: dict[torch.dtype, list[str]] = defaultdict(list)
    for name, param in model.named_parameters():
        if param.is_floating_point() and not any(part in name for part in skip):
            found[param.dtype].append(name)
    return dict(found)


def _describe(groups: dict[torch.dtype, list[str]]) -> str:
    return "; ".join(
        f"{dtype}: {len(names)} parameters, e.g. {', '.join(names[:3])}" for dtype, names in groups.items()
    )


def add_lora(model: torch.nn.Module, r: int, alpha: int, dropout: float, bias: str) -> PeftModel:
    """Wrap `model` with LoRA adapters on the LLM's linear layers (PEFT freezes everything else).

    The model must be in one dtype: adapters follow their layers' dtype, and the trainables (adapters + projector)
    must end up in one dtype for DeepSpeed.
    """
    if bias not in LORA_BIASES:
        raise ValueError(f"--lora_bias {bias!r} is not one of {LORA_BIASES}.")
    groups = dtypes_by_module(model)
    if len(groups) > 1:
        raise ValueError(
            f"LoRA needs the language model and projector in one dtype, but they hold several ({_describe(groups)}). "
            "Fix: load the model in one dtype (train.py does with --bf16 True, --fp16 True or neither; in Python "
            "call model.to(torch.bfloat16) before adding LoRA), or convert the checkpoint to one dtype."
        )
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=lora_target_pattern(model),
        lora_dropout=dropout,
        bias=bias,
        task_type="CAUSAL_LM",
    )
    with warnings.catch_warnings():
        # peft probes transformers' deprecated `is_gradient_checkpointing`; nothing for the user to act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)


def cast_trainables(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """LLaVA's cast for DeepSpeed: every trainable parameter (the LoRA adapters, the projector) to `dtype`.

    Parameters that ZeRO-3 already partitioned cannot be re-cast in place; one in the wrong dtype is an error that
    names it, instead of DeepSpeed's bare AssertionError later.
    """
    trainable: dict[torch.dtype, list[str]] = defaultdict(list)
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.dtype != dtype and not hasattr(param, "ds_id"):
            param.data = param.data.to(dtype)
        trainable[param.dtype].append(name)
    if set(trainable) - {dtype}:
        raise ValueError(
            f"DeepSpeed needs every trainable parameter in {dtype}, but some are not and cannot be cast (ZeRO-3 "
            f"partitioned them at load): {_describe(dict(trainable))}. Fix: load the model in {dtype} (--bf16 True "
            "or --fp16 True to match the DeepSpeed config)."
        )


def lora_state(model: torch.nn.Module, bias: str) -> dict[str, torch.Tensor]:
    """The adapter weights (and biases per `--lora_bias`), gathered from ZeRO-3 shards (LLaVA's `get_peft_state`)."""
    named = list(model.named_parameters())
    if bias == "none":
        return gathered_state(named, lambda name, _: "lora_" in name)
    if bias == "all":
        return gathered_state(named, lambda name, _: "lora_" in name or "bias" in name)
    lora_biases = {name.split("lora_")[0] + "bias" for name, _ in named if "lora_" in name}
    return gathered_state(named, lambda name, _: "lora_" in name or name in lora_biases)


def non_lora_trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Trainable parameters that are not LoRA weights (the projector): `non_lora_trainables.bin`."""
    return gathered_state(model.named_parameters(), lambda name, param: "lora_" not in name and param.requires_grad)
