"""A run stopped after a checkpoint and started again continues exactly where an uninterrupted run would be.

The interruption is a first run with `--max_steps 3` that saves `checkpoint-3`; the second run, with
`--max_steps 6` and the same `output_dir`, resumes from it automatically (LLaVA's behaviour). A constant learning
rate keeps the schedule identical across the two lengths, so every logged loss must match the uninterrupted run's.
Both checkpoint kinds are covered: the full model (finetuning) and projector-only (pretraining).
"""

from pathlib import Path

import pytest

from llava.train.trainer import LLaVATrainer
from tests.train.tiny_runs import TINY_DUET_FLAGS, common_flags, logged_losses, run_training, write_dataset


@pytest.mark.parametrize("mode", ["finetune", "pretrain"])
def test_resumed_run_matches_uninterrupted_run(mode: str, base_models, tmp_path: Path) -> None:
    template, extra = ("v1", []) if mode == "finetune" else ("plain", ["--tune_mm_mlp_adapter", "True"])
    data = write_dataset(tmp_path / "data", template, "itiiitii" if mode == "finetune" else "iiiiiiii")

    def flags(output: Path, max_steps: int, save: bool) -> list[str]:
        chosen = common_flags(base_models, data, output, template) + TINY_DUET_FLAGS + extra + [
            "--max_steps", str(max_steps), "--learning_rate", "1e-3", "--lr_scheduler_type", "constant",
        ]
        return chosen + (["--save_strategy", "steps", "--save_steps", "3"] if save else [])

    run_training(flags(tmp_path / "straight", 6, save=False))
    interrupted = tmp_path / "interrupted"
    run_training(flags(interrupted, 3, save=True))
    assert (interrupted / "checkpoint-3").is_dir()
    steps_run = []
    original_step = LLaVATrainer.training_step

    def counting_step(self, *args, **kwargs):
        steps_run.append(self.state.global_step)
        return original_step(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LLaVATrainer, "training_step", counting_step)
        resumed = run_training(flags(interrupted, 6, save=True))
    assert steps_run == [3, 4, 5] and resumed.state.global_step == 6  # only the missing steps ran

    expected = logged_losses(tmp_path / "straight" / "trainer_state.json")
    actual = logged_losses(interrupted / "trainer_state.json")
    assert sorted(actual) == sorted(expected) == [1, 2, 3, 4, 5, 6]
    for step in expected:
        assert abs(actual[step] - expected[step]) <= 1e-6, (step, actual[step], expected[step])
