"""Two-process DeepSpeed runs on CPU (gloo), launched exactly as users launch LLaVA: `deepspeed ... train.py`.

The data alternates so that, with sequential batches of 2 sharded over 2 ranks, one rank gets a text-only batch
while the other gets images: under ZeRO-3 that is the case that hangs when ranks run different modules. Each run
has a hard timeout, so a hang fails the test instead of blocking the suite.
"""

from pathlib import Path

import pytest
import torch

from llava.model.builder import load_pretrained_model
from tests.train.tiny_runs import REPO_ROOT, TINY_DUET_FLAGS, common_flags, launch, logged_losses, write_dataset

# Rank 0 gets [image, text], [image, image]; rank 1 gets [text, text], [text, image].
MIXED_PATTERN = "itttiiti"


def ds_flags(base_models, tmp_path: Path, zero: str) -> tuple[list[str], Path]:
    data = write_dataset(tmp_path / "data", "v1", MIXED_PATTERN)
    output = tmp_path / f"llava-tiny-{zero}"
    flags = common_flags(base_models, data, output, "v1") + TINY_DUET_FLAGS + [
        "--deepspeed", str(REPO_ROOT / "configs" / "deepspeed" / f"{zero}.json"),
        "--train_sampling_strategy", "sequential",
        "--max_steps", "2",
        "--save_strategy", "steps",
        "--save_steps", "1",
    ]
    return flags, output


@pytest.mark.deepspeed
def test_zero2_projector_pretraining_with_wandb_offline(base_models, tmp_path: Path) -> None:
    flags, output = ds_flags(base_models, tmp_path, "zero2")
    flags += ["--tune_mm_mlp_adapter", "True", "--learning_rate", "1e-3", "--report_to", "wandb",
              "--run_name", "tiny-zero2"]
    launch(flags, tmp_path / "run.log", {"WANDB_DIR": str(tmp_path), "WANDB_MODE": "offline"})
    for folder in (output / "checkpoint-1", output / "checkpoint-2", output):
        weights = torch.load(folder / "mm_projector.bin", weights_only=True)
        assert sorted(weights) == [f"model.mm_projector.{i}.{k}" for i in (0, 2) for k in ("bias", "weight")]
    assert (output / "checkpoint-2" / "global_step2").is_dir()  # DeepSpeed's own state, for resuming
    assert len(list(tmp_path.glob("wandb/offline-run-*"))) == 1  # rank 0 only
    assert len(logged_losses(output / "trainer_state.json")) == 2


@pytest.mark.deepspeed
def test_zero3_finetuning_with_gradient_checkpointing(base_models, tmp_path: Path) -> None:
    flags, output = ds_flags(base_models, tmp_path, "zero3")
    flags += ["--learning_rate", "2e-5", "--mm_projector_lr", "2e-5", "--gradient_checkpointing", "True"]
    launch(flags, tmp_path / "run.log")
    assert (output / "checkpoint-2" / "model.safetensors").is_file()
    assert (output / "model.safetensors").is_file() and (output / "tokenizer.json").is_file()
    _, model, _, _ = load_pretrained_model(str(output), device="cpu")  # ZeRO-3 shards were gathered on save
    assert model.get_model().layers[0].self_attn.q_proj.weight.shape == (64, 64)
    assert len(logged_losses(output / "trainer_state.json")) == 2
