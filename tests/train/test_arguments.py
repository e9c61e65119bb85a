"""LLaVA's flags parse on transformers 5 (legacy aliases mapped), and DUET's flags become the right `DuetConfig`."""

import logging
from pathlib import Path

import pytest
from transformers.integrations.deepspeed import unset_hf_deepspeed_config

from duet.config import DuetConfig
from llava.train.arguments import parse_arguments
from llava.train.duet_flags import duet_config_from_args, parse_number_list
from llava.train.model_setup import refuse_unsupported

REPO_ROOT = Path(__file__).resolve().parents[2]

# scripts/v1_5/finetune.sh of haotian-liu/LLaVA, flag for flag (paths shortened), plus --use_cpu for this machine.
LLAVA_FINETUNE_SH = [
    "--deepspeed", str(REPO_ROOT / "configs/deepspeed/zero3.json"),
    "--model_name_or_path", "lmsys/vicuna-7b-v1.5",
    "--version", "v1",
    "--data_path", "./playground/data/llava_v1_5_mix665k.json",
    "--image_folder", "./playground/data",
    "--vision_tower", "openai/clip-vit-large-patch14-336",
    "--pretrain_mm_mlp_adapter", "./checkpoints/llava-v1.5-7b-pretrain/mm_projector.bin",
    "--mm_projector_type", "mlp2x_gelu",
    "--mm_vision_select_layer", "-2",
    "--mm_use_im_start_end", "False",
    "--mm_use_im_patch_token", "False",
    "--image_aspect_ratio", "pad",
    "--group_by_modality_length", "True",
    "--bf16", "True",
    "--output_dir", "./checkpoints/llava-v1.5-7b",
    "--num_train_epochs", "1",
    "--per_device_train_batch_size", "16",
    "--per_device_eval_batch_size", "4",
    "--gradient_accumulation_steps", "1",
    "--evaluation_strategy", "no",
    "--save_strategy", "steps",
    "--save_steps", "50000",
    "--save_total_limit", "1",
    "--learning_rate", "2e-5",
    "--weight_decay", "0.",
    "--warmup_ratio", "0.03",
    "--lr_scheduler_type", "cosine",
    "--logging_steps", "1",
    "--tf32", "True",
    "--model_max_length", "2048",
    "--gradient_checkpointing", "True",
    "--dataloader_num_workers", "4",
    "--lazy_preprocess", "True",
    "--report_to", "wandb",
    "--use_cpu", "True",
]


@pytest.fixture
def no_global_deepspeed_config():
    """Parsing `--deepspeed` registers a process-global HF DeepSpeed config; drop it so later tests see none."""
    yield
    unset_hf_deepspeed_config()


def test_llava_finetune_sh_parses_with_aliases(no_global_deepspeed_config, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llava.train.arguments"):
        model_args, data_args, training_args, duet_args = parse_arguments(LLAVA_FINETUNE_SH)
    assert training_args.eval_strategy == "no"
    assert training_args.warmup_steps == 0.03 and training_args.get_warmup_steps(1000) == 30
    assert training_args.activation_checkpointing is True and training_args.gradient_checkpointing is True
    assert training_args.tf32 is None  # no TF32 on this machine (as on ROCm): dropped instead of raising
    assert training_args.group_by_modality_length and training_args.bf16 and training_args.report_to == ["wandb"]
    assert (model_args.version, model_args.mm_projector_type, model_args.mm_vision_select_layer) == ("v1", "mlp2x_gelu", -2)
    assert model_args.attn_implementation == "sdpa"
    assert data_args.image_aspect_ratio == "pad" and data_args.lazy_preprocess
    assert duet_config_from_args(duet_args) is None
    messages = [record.getMessage() for record in caplog.records]
    for flag in ("--evaluation_strategy", "--warmup_ratio", "--gradient_checkpointing", "--tf32"):
        assert sum(message.startswith(flag) for message in messages) == 1, (flag, messages)


def test_group_by_length_alias() -> None:
    *_, training_args, _ = parse_arguments(["--output_dir", "out", "--use_cpu", "True", "--group_by_length", "True"])
    assert training_args.train_sampling_strategy == "group_by_length"


def test_warmup_ratio_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="warmup_ratio"):
        parse_arguments(["--output_dir", "out", "--use_cpu", "True", "--warmup_ratio", "1.5"])


@pytest.mark.parametrize(
    "values, kind, expected",
    [
        (["[16,24]"], int, (16, 24)),
        (["16", "24"], int, (16, 24)),
        (["[0.5, 0.0]"], float, (0.5, 0.0)),
        (["0.5", "0"], float, (0.5, 0.0)),
    ],
)
def test_number_lists(values: list[str], kind: type, expected: tuple) -> None:
    assert parse_number_list(values, "layer_list", kind) == expected


def test_number_list_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="layer_list"):
        parse_number_list(["[16;x]"], "layer_list", int)
    with pytest.raises(ValueError, match="whole numbers"):
        parse_number_list(["[16.5]"], "layer_list", int)


def _duet(argv: list[str]) -> DuetConfig | None:
    *_, duet_args = parse_arguments(["--output_dir", "out", "--use_cpu", "True", *argv])
    return duet_config_from_args(duet_args)


def test_duet_preset_and_overrides() -> None:
    assert _duet(["--duet_preset", "llava-1.5:128"]) == DuetConfig.from_preset("llava-1.5:128")
    tuned = _duet(["--duet_preset", "llava-1.5:128", "--t2v_query", "instruction", "--t2v_position_ids", "keep"])
    assert (tuned.dominant, tuned.contextual, tuned.query, tuned.position_ids) == (170, 32, "instruction", "keep")
    assert _duet(["--duet_preset", "full"]) is None


def test_duet_authors_flags() -> None:
    config = _duet(
        ["--dominant_num", "300", "--context_num", "7", "--layer_list", "[16,24]", "--image_token_ratio_list", "[0.5,0.0]"]
    )
    assert config == DuetConfig.from_preset("llava-1.5:192")


def test_query_flag_without_duet_is_refused() -> None:
    with pytest.raises(ValueError, match="only apply with DUET on"):
        _duet(["--t2v_query", "last"])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--mm_use_im_start_end", "True"], "mm_use_im_start_end"),
        (["--mm_use_im_patch_token", "True"], "mm_use_im_patch_token"),
        (["--image_aspect_ratio", "anyres"], "image_aspect_ratio"),
        (["--bits", "4"], "--bits 4"),
        (["--attn_implementation", "flash_attention_2"], "flash-attn"),
        (["--lora_enable", "True", "--tune_mm_mlp_adapter", "True"], "--lora_enable with --tune_mm_mlp_adapter"),
    ],
)
def test_unsupported_flags_fail_before_loading(flags: list[str], message: str) -> None:
    model_args, data_args, training_args, _ = parse_arguments(["--output_dir", "out", "--use_cpu", "True", *flags])
    with pytest.raises(ValueError, match=message):
        refuse_unsupported(model_args, data_args, training_args)
