"""LLaVA's command-line contract for `llava/train/train.py`, on transformers 5.

Users run LLaVA's own shell scripts (`scripts/v1_5/pretrain.sh`, `finetune.sh`, `finetune_lora.sh`), so the three
dataclasses keep LLaVA's field names and defaults and are parsed by `HfArgumentParser` (underscored flags). Flags
that transformers 5 removed are kept as aliases, each mapped to its 5.x field with one log line, so those scripts
still parse:

- `--evaluation_strategy` becomes `eval_strategy`;
- `--warmup_ratio R` becomes `warmup_steps R` (in 5.x a float in [0, 1) *is* a ratio: `get_warmup_steps`);
- `--group_by_length True` becomes `train_sampling_strategy group_by_length`;
- `--gradient_checkpointing` (deprecated in 5.x, still read) becomes `activation_checkpointing`;
- `--tf32 True` on a machine without TF32 (CPU, AMD ROCm), where transformers 5 raises, is dropped with a log line
  instead (DUET-VLM trained on AMD Instinct GPUs with LLaVA's scripts).

On a machine without an accelerator `--dataloader_pin_memory` is turned off: pinned memory only helps copies to a
GPU, and torch warns about it on every DataLoader.

`DuetArguments` adds DUET-VLM's flags: a preset (`--duet_preset llava-1.5:128`) or the authors' explicit flags
(`--dominant_num 170 --context_num 32 --layer_list [16,24] --image_token_ratio_list [0.5,0.0]`).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import transformers
from transformers import HfArgumentParser
from transformers.utils import is_torch_tf32_available

from llava.train.entry_checks import DEFAULT_BAD_DATA_POLICY, BadDataPolicy

logger = logging.getLogger(__name__)

AttnImplementation = Literal["sdpa", "eager", "flash_attention_2"]


@dataclass
class ModelArguments:
    """Which LLM, vision tower and projector to train, as in LLaVA's `ModelArguments`."""

    model_name_or_path: str = field(
        default="facebook/opt-125m",
        metadata={"help": "The LLM (or a LLaVA checkpoint): a folder or a Hub id such as lmsys/vicuna-7b-v1.5."},
    )
    version: str = field(default="v0", metadata={"help": "Conversation template: plain (pretraining) or v1."})
    freeze_backbone: bool = field(default=False, metadata={"help": "Freeze the LLM (LLaVA's flag)."})
    tune_mm_mlp_adapter: bool = field(default=False, metadata={"help": "Train the projector only (pretraining)."})
    vision_tower: str | None = field(default=None, metadata={"help": "CLIP folder or hub id."})
    mm_vision_select_layer: int = field(default=-1, metadata={"help": "CLIP layer whose output feeds the projector."})
    pretrain_mm_mlp_adapter: str | None = field(
        default=None,
        metadata={"help": "mm_projector.bin from pretraining: a file, or a Hub repo holding one (org/name[/path])."},
    )
    mm_projector_type: str = field(default="linear", metadata={"help": "linear, identity or mlpNx_gelu."})
    mm_use_im_start_end: bool = field(default=False, metadata={"help": "Must stay False (LLaVA-1.5)."})
    mm_use_im_patch_token: bool = field(
        default=False,
        metadata={
            "help": "Must stay False. LLaVA's dataclass defaults to True (an unused <im_patch> token that resizes the "
            "vocabulary), but every LLaVA-1.5 script passes False, so False is the default here."
        },
    )
    mm_patch_merge_type: str = field(default="flat", metadata={"help": "Only flat (LLaVA-1.5)."})
    mm_vision_select_feature: str = field(default="patch", metadata={"help": "patch or cls_patch."})
    attn_implementation: AttnImplementation = field(
        default="sdpa",
        metadata={"help": "Attention kernel of the LLM and CLIP: sdpa (portable default), eager, flash_attention_2."},
    )


@dataclass
class DataArguments:
    """Where the data lives and how images are preprocessed, as in LLaVA's `DataArguments`."""

    data_path: str | None = field(default=None, metadata={"help": "LLaVA JSON list (id / image / conversations)."})
    lazy_preprocess: bool = field(default=False, metadata={"help": "Accepted for LLaVA scripts; always lazy here."})
    is_multimodal: bool = field(
        default=False,
        metadata={"help": "Accepted for LLaVA scripts; not read (the vision tower makes a model multimodal)."},
    )
    image_folder: str | None = field(default=None, metadata={"help": "Root that `image` paths are relative to."})
    image_aspect_ratio: str = field(default="square", metadata={"help": "square or pad (LLaVA-1.5 finetuning)."})
    on_bad_data: BadDataPolicy = field(
        default=DEFAULT_BAD_DATA_POLICY,
        metadata={
            "help": "What the startup data check does with bad entries (same flag in `python -m llava.train.check_data`"
            "): truncate (default: entries longer than model_max_length are cut there, as LLaVA does, and listed; any "
            "other problem stops the run before the model is built), refuse (any problem stops the run), or skip "
            "(drop every bad entry and count them)."
        },
    )


@dataclass
class TrainingArguments(transformers.TrainingArguments):
    """transformers' arguments plus LLaVA's additions and the legacy aliases listed in the module docstring."""

    cache_dir: str | None = field(default=None)
    optim: str = field(default="adamw_torch")
    remove_unused_columns: bool = field(default=False)
    freeze_mm_mlp_adapter: bool = field(default=False)
    mpt_attn_impl: str | None = field(
        default="triton", metadata={"help": "Accepted for LLaVA scripts; MPT unsupported."}
    )
    model_max_length: int = field(
        default=512,
        metadata={"help": "Maximum sequence length, image features included; see --on_bad_data for longer samples."},
    )
    double_quant: bool = field(
        default=True, metadata={"help": "Accepted for LLaVA scripts; not used (QLoRA, --bits 4/8, is not supported)."}
    )
    quant_type: str = field(
        default="nf4", metadata={"help": "Accepted for LLaVA scripts; not used (QLoRA, --bits 4/8, is not supported)."}
    )
    bits: int = field(default=16, metadata={"help": "Only 16 is supported (no bitsandbytes QLoRA path)."})
    lora_enable: bool = False
    lora_r: int = 64
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_weight_path: str = ""
    lora_bias: str = "none"
    mm_projector_lr: float | None = None
    group_by_modality_length: bool = field(default=False)
    # Aliases of flags that transformers 5 removed; mapped in __post_init__ and then cleared.
    evaluation_strategy: str | None = field(
        default=None, metadata={"help": "Alias of --eval_strategy (removed in 5.x)."}
    )
    warmup_ratio: float | None = field(default=None, metadata={"help": "Alias: becomes --warmup_steps as a ratio."})
    group_by_length: bool = field(
        default=False, metadata={"help": "Alias of --train_sampling_strategy group_by_length (removed in 5.x)."}
    )

    def __post_init__(self) -> None:
        self._map_legacy_flags()
        super().__post_init__()

    def _map_legacy_flags(self) -> None:
        """Translate the removed 4.x flags before transformers validates the 5.x ones."""
        if self.evaluation_strategy is not None:
            logger.warning(
                "--evaluation_strategy is removed in transformers 5; using --eval_strategy %s.",
                self.evaluation_strategy,
            )
            self.eval_strategy = self.evaluation_strategy
            self.evaluation_strategy = None
        if self.warmup_ratio is not None:
            if not 0.0 <= self.warmup_ratio < 1.0:
                raise ValueError(f"--warmup_ratio must lie in [0, 1), got {self.warmup_ratio}.")
            if self.warmup_steps:
                raise ValueError("Pass either --warmup_ratio or --warmup_steps, not both.")
            logger.warning(
                "--warmup_ratio is removed in transformers 5; using --warmup_steps %s (a float in [0, 1) is a ratio).",
                self.warmup_ratio,
            )
            self.warmup_steps = self.warmup_ratio
            self.warmup_ratio = None
        if self.gradient_checkpointing is not None and self.activation_checkpointing is None:
            logger.warning(
                "--gradient_checkpointing is deprecated in transformers 5; using --activation_checkpointing %s.",
                self.gradient_checkpointing,
            )
            self.activation_checkpointing = self.gradient_checkpointing
        if self.group_by_length:
            logger.warning(
                "--group_by_length is removed in transformers 5; using --train_sampling_strategy group_by_length."
            )
            self.train_sampling_strategy = "group_by_length"
            self.group_by_length = False
        if self.tf32 and not is_torch_tf32_available():
            logger.warning(
                "--tf32 True ignored: this machine has no TF32 (CPU or AMD ROCm); transformers 5 would raise."
            )
            self.tf32 = None
        if self.dataloader_pin_memory and (self.use_cpu or not torch.accelerator.is_available()):
            self.dataloader_pin_memory = False


@dataclass
class DuetArguments:
    """DUET-VLM compression used during training: a preset, or the authors' explicit flags (which override it)."""

    duet_preset: str | None = field(
        default=None, metadata={"help": "e.g. llava-1.5:192 / llava-1.5:128 / llava-1.5:64 (`python -m duet presets`)."}
    )
    dominant_num: int | None = field(default=None, metadata={"help": "V2V dominant tokens per image, CLS included."})
    context_num: int | None = field(default=None, metadata={"help": "V2V contextual (merged) tokens per image."})
    cluster_width: int | None = field(default=None, metadata={"help": "V2V cluster width w (default 4)."})
    layer_list: list[str] | None = field(
        default=None, metadata={"help": "T2V stage layers, 1-indexed: '[16,24]' or 16 24."}
    )
    image_token_ratio_list: list[str] | None = field(
        default=None, metadata={"help": "T2V keep ratios of N0 per stage: '[0.5,0.0]' or 0.5 0.0."}
    )
    t2v_query: Literal["salient", "instruction", "last"] | None = field(
        default=None, metadata={"help": "T2V query tokens (default: the preset's, salient)."}
    )
    t2v_position_ids: Literal["compact", "keep"] | None = field(
        default=None, metadata={"help": "Re-index positions after a drop (compact) or keep them."}
    )


ALL_ARGUMENTS = (ModelArguments, DataArguments, TrainingArguments, DuetArguments)


def parse_arguments(
    argv: Sequence[str] | None = None,
) -> tuple[ModelArguments, DataArguments, TrainingArguments, DuetArguments]:
    """Parse `argv` (default: `sys.argv[1:]`); unknown flags are an error, as in LLaVA."""
    parser = HfArgumentParser(ALL_ARGUMENTS)
    model_args, data_args, training_args, duet_args = parser.parse_args_into_dataclasses(
        args=list(argv) if argv is not None else None
    )
    return model_args, data_args, training_args, duet_args
