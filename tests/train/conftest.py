"""Session fixtures for the training tests: tiny base models and the in-process training runs several tests share."""

import json
from pathlib import Path

import pytest

from llava.testing.tiny_llava import save_tiny_base_models
from tests.train.tiny_runs import TINY_DUET_FLAGS, common_flags, run_training, write_dataset


@pytest.fixture(scope="session")
def base_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(LLM folder, CLIP folder), built once per test session."""
    return save_tiny_base_models(tmp_path_factory.mktemp("base"), image_size=224)


@pytest.fixture(scope="session")
def finetune_run(base_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """~20 steps of v1 full finetuning with DUET (salient queries), as LLaVA-1.5's stage 2 runs it.

    `group_by_modality_length` and `mm_projector_lr` are on (gradient checkpointing is covered by the per-layer
    count test and the ZeRO-3 run, to keep this one fast); the file holds one entry
    whose image is missing, which `--on_bad_data skip` drops. Returns (trainer, output_dir, data_path).
    """
    root = tmp_path_factory.mktemp("finetune")
    data = write_dataset(root / "data", "v1", "iitiitit")
    records = json.loads(data.read_text())
    records.append({"id": "broken", "image": "nowhere.png", "conversations": records[0]["conversations"]})
    data.write_text(json.dumps(records))
    output = root / "llava-tiny-finetune"
    flags = common_flags(base_models, data, output, "v1") + TINY_DUET_FLAGS + [
        "--max_steps", "20",
        "--learning_rate", "1e-3",
        "--mm_projector_lr", "1e-3",
        "--lr_scheduler_type", "cosine",
        "--warmup_ratio", "0.03",
        "--group_by_modality_length", "True",
        "--on_bad_data", "skip",
    ]
    return run_training(flags), output, data


@pytest.fixture(scope="session")
def pretrain_run(base_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """Projector pretraining (plain template, `tune_mm_mlp_adapter`) with DUET, recording every T2V score tensor.

    Returns (trainer, output_dir, scores) where `scores` holds the (B, L) score tensors of every stage of every step.
    """
    import duet.engine as engine_module

    root = tmp_path_factory.mktemp("pretrain")
    data = write_dataset(root / "data", "plain", "iiiiii")
    output = root / "llava-tiny-pretrain"
    flags = common_flags(base_models, data, output, "plain") + TINY_DUET_FLAGS + [
        "--tune_mm_mlp_adapter", "True",
        "--max_steps", "3",
        "--learning_rate", "1e-3",
        "--save_strategy", "steps",
        "--save_steps", "2",
    ]
    scores: list = []
    original = engine_module.score_with_layer

    def recording(*args, **kwargs):
        result = original(*args, **kwargs)
        scores.append(result.detach().clone())
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "score_with_layer", recording)
        trainer = run_training(flags)
    return trainer, output, scores
