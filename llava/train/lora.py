"""LoRA on the LLM's linear layers, and the two files LLaVA's LoRA checkpoints hold (LLaVA's `finetune_lora.sh`).

LLaVA adapts every `nn.Linear` of the language model except `lm_head` (`find_all_linear_names`), never the
projector or the vision tower. LLaVA wraps the LLM before the tower exists, so its suffix list (`q_proj`, ...)
cannot reach CLIP's layers of the same names; here the tower is already attached, so the targets are a regex over
full module names that excludes the vision path. The projector is trained in full next to the adapter and saved separately in
`non_lora_trainables.bin` under the PEFT wrapper's names (`base_model.model.model.mm_projector.0.weight`), which
`load_pretrained_model` strips again when it merges the adapter.
"""

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


def add_lora(model: torch.nn.Module, r: int, alpha: int, dropout: float, bias: str) -> PeftModel:
    """Wrap `model` with LoRA adapters on the LLM's linear layers (PEFT freezes everything else)."""
    if bias not in LORA_BIASES:
        raise ValueError(f"--lora_bias {bias!r} is not one of {LORA_BIASES}.")
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        target_modules=lora_target_pattern(model),
        lora_dropout=dropout,
        bias=bias,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


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
