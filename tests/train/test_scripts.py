"""The launch scripts keep the paper's global batch on any GPU count and pass the preset and overrides through.

`deepspeed` is replaced by a stub on PATH that prints its arguments, so the scripts run without GPUs; the flags
they would launch are then parsed by the real argument parser.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def stub_path(tmp_path: Path) -> str:
    stub = tmp_path / "bin" / "deepspeed"
    stub.parent.mkdir()
    stub.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    return f"{stub.parent}:{os.environ['PATH']}"


def run_script(script: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", f"scripts/{script}", *args], cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True
    )


def flag_value(lines: list[str], flag: str) -> str:
    return lines[lines.index(flag) + 1]


@pytest.mark.parametrize("gpus, accumulation", [("8", "1"), ("4", "2"), ("1", "8")])
def test_pretrain_keeps_global_batch(stub_path: str, gpus: str, accumulation: str) -> None:
    result = run_script("pretrain_duet.sh", ["64"], {"PATH": stub_path, "NUM_GPUS": gpus})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert flag_value(lines, "--gradient_accumulation_steps") == accumulation
    assert flag_value(lines, "--per_device_train_batch_size") == "32"
    assert flag_value(lines, "--duet_preset") == "llava-1.5:64"
    assert flag_value(lines, "--deepspeed") == "./configs/deepspeed/zero2.json"
    assert "--tf32" not in lines


def test_indivisible_batch_is_an_error(stub_path: str) -> None:
    result = run_script("pretrain_duet.sh", ["192"], {"PATH": stub_path, "NUM_GPUS": "3"})
    assert result.returncode == 2 and "not divisible" in result.stderr


def test_unknown_preset_is_an_error(stub_path: str) -> None:
    result = run_script("pretrain_duet.sh", ["100"], {"PATH": stub_path})
    assert result.returncode == 2 and "PRESET must be 192, 128 or 64" in result.stderr


def test_lora_multi_node_hostfile_and_overrides(stub_path: str, tmp_path: Path) -> None:
    hostfile = tmp_path / "hostfile"
    hostfile.write_text("# two nodes\nnode0 slots=8\nnode1 slots=8\n")
    projector = tmp_path / "mm_projector.bin"
    projector.write_bytes(b"")
    env = {"PATH": stub_path, "HOSTFILE": str(hostfile), "PRETRAIN": str(projector), "T2V_QUERY": "instruction"}
    too_big = run_script("finetune_duet_lora.sh", ["128"], env)  # 16 per device x 16 GPUs > global 128
    assert too_big.returncode == 2 and "not divisible" in too_big.stderr
    result = run_script("finetune_duet_lora.sh", ["128", "--max_steps", "5"], {**env, "PER_DEVICE_BATCH": "8"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert flag_value(lines, "--hostfile") == str(hostfile) and flag_value(lines, "--num_nodes") == "2"
    assert flag_value(lines, "--gradient_accumulation_steps") == "1"
    assert flag_value(lines, "--lora_r") == "128" and flag_value(lines, "--mm_projector_lr") == "2e-5"
    assert flag_value(lines, "--t2v_query") == "instruction" and lines[-2:] == ["--max_steps", "5"]


def test_launched_flags_parse(stub_path: str, tmp_path: Path) -> None:
    from llava.train.arguments import parse_arguments

    result = run_script("pretrain_duet.sh", ["128"], {"PATH": stub_path})
    lines = result.stdout.splitlines()
    script_flags = lines[lines.index("llava/train/train_mem.py") + 1 :]
    script_flags[script_flags.index("--deepspeed") : script_flags.index("--deepspeed") + 2] = []
    model_args, data_args, training_args, duet_args = parse_arguments([*script_flags, "--use_cpu", "True"])
    assert model_args.tune_mm_mlp_adapter and duet_args.duet_preset == "llava-1.5:128"
    assert training_args.warmup_steps == 0.03 and training_args.activation_checkpointing


@pytest.mark.parametrize("script", ["pretrain_duet.sh", "finetune_duet_lora.sh", "finetune_duet.sh"])
def test_paper_scripts_go_on_past_over_long_entries(stub_path: str, tmp_path: Path, script: str) -> None:
    """A real mix665k run must not stop at startup on a handful of over-long samples: truncate is passed explicitly."""
    from llava.train.arguments import parse_arguments

    projector = tmp_path / "mm_projector.bin"
    projector.write_bytes(b"")
    env = {"PATH": stub_path, "PRETRAIN": str(projector), "PRETRAINED_PROJECTOR": str(projector)}
    if script == "finetune_duet.sh":  # its paper setting: MODEL set (without MODEL it is the CPU demo)
        # VIRTUAL_ENV set: the script then leaves PATH alone instead of putting .venv/bin (the real deepspeed) first
        env |= {"VIRTUAL_ENV": sys.prefix, "MODEL": "lmsys/vicuna-7b-v1.5", "DATA": "mix665k.json", "IMAGES": "images",
                "VISION_TOWER": "openai/clip-vit-large-patch14-336", "PRESET": "128"}  # fmt: skip
    result = run_script(script, ["128"] if script != "finetune_duet.sh" else [], env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert flag_value(lines, "--on_bad_data") == "truncate"
    script_flags = lines[lines.index("llava/train/train_mem.py") + 1 :]
    script_flags[script_flags.index("--deepspeed") : script_flags.index("--deepspeed") + 2] = []
    assert parse_arguments([*script_flags, "--use_cpu", "True"])[1].on_bad_data == "truncate"
    skipping = run_script(script, ["128"] if script != "finetune_duet.sh" else [], {**env, "ON_BAD_DATA": "skip"})
    assert flag_value(skipping.stdout.splitlines(), "--on_bad_data") == "skip"
