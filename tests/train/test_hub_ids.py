"""Training takes Hub ids for `--model_name_or_path`, `--vision_tower` and `--pretrain_mm_mlp_adapter`, offline."""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from llava.model.hub import ModelNotFoundError
from llava.testing.fake_hub import add_to_hub_cache
from tests.train.tiny_runs import TINY_DUET_FLAGS, common_flags, run_training, write_dataset


def test_training_from_hub_ids(base_models, pretrain_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    llm, clip = base_models
    _, pretrain_output, _ = pretrain_run
    projector_repo = tmp_path / "projector-repo"
    projector_repo.mkdir()
    shutil.copy(pretrain_output / "mm_projector.bin", projector_repo / "mm_projector.bin")
    shutil.copy(pretrain_output / "config.json", projector_repo / "config.json")
    cache = tmp_path / "hf_home" / "hub"
    add_to_hub_cache(cache, "fake-lmsys/tiny-vicuna", llm)
    add_to_hub_cache(cache, "fake-openai/tiny-clip-224", clip)
    add_to_hub_cache(cache, "fake-liuhaotian/tiny-pretrain", projector_repo)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    data = write_dataset(tmp_path / "data", "v1", "itit")
    output = tmp_path / "out"
    flags = common_flags(base_models, data, output, "v1") + TINY_DUET_FLAGS + ["--max_steps", "1"]
    ids = {"--model_name_or_path": "fake-lmsys/tiny-vicuna", "--vision_tower": "fake-openai/tiny-clip-224"}
    for flag, value in ids.items():
        flags[flags.index(flag) + 1] = value
    # learning rate 0: the projector after one step is exactly the one the hub id named
    trainer = run_training([*flags, "--pretrain_mm_mlp_adapter", "fake-liuhaotian/tiny-pretrain", "--learning_rate", "0"])
    assert math.isfinite(trainer.state.log_history[-1]["train_loss"])
    expected = torch.load(pretrain_output / "mm_projector.bin", weights_only=True)
    projector = {f"model.mm_projector.{k}": v for k, v in trainer.model.get_model().mm_projector.state_dict().items()}
    assert projector.keys() == expected.keys() and all(torch.equal(projector[k], expected[k]) for k in expected)
    assert json.loads((output / "config.json").read_text())["mm_vision_tower"] == "fake-openai/tiny-clip-224"

    flags[flags.index("--model_name_or_path") + 1] = "fake-lmsys/not-downloaded"
    with pytest.raises(ModelNotFoundError, match=r"--model_name_or_path 'fake-lmsys/not-downloaded'.*hf download"):
        run_training(flags)
