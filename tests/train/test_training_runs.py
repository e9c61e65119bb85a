"""End-to-end training runs in this process (no DeepSpeed): learning, saving, loading, DUET in pretraining."""

import math
from pathlib import Path

import torch

from llava.constants import IMAGE_TOKEN_INDEX
from llava.conversation import conv_vicuna_v1
from llava.duet_queries import build_t2v_query_mask
from llava.mm_utils import process_images, tokenizer_image_token
from llava.model.builder import load_pretrained_model
from tests.train.tiny_runs import TINY_DUET_FLAGS, common_flags, logged_losses, run_training


def test_loss_falls_over_twenty_steps(finetune_run) -> None:
    _, output, _ = finetune_run
    losses = [loss for _, loss in sorted(logged_losses(output / "trainer_state.json").items())]
    assert len(losses) == 20
    assert all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5, losses


def test_bad_entry_is_skipped(finetune_run) -> None:
    trainer, _, _ = finetune_run
    assert len(trainer.train_dataset) == 8  # the entry with the missing image was dropped


def test_full_checkpoint_loads_and_generates(finetune_run) -> None:
    _, output, data = finetune_run
    assert (output / "model.safetensors").is_file() and (output / "tokenizer.json").is_file()
    tokenizer, model, image_processor, context = load_pretrained_model(str(output), device="cpu")
    assert context == 512 and model.duet is not None and model.config.image_aspect_ratio == "pad"
    question = "What color is the square?"
    conv = conv_vicuna_v1.copy()
    conv.append_message(conv.roles[0], "<image>\n" + question)
    conv.append_message(conv.roles[1], None)
    prompt = conv.get_prompt()
    input_ids = tokenizer_image_token(prompt, tokenizer, return_tensors="pt").unsqueeze(0)
    images = process_images([_first_image(data)], image_processor, model.config)
    query_mask = torch.tensor([build_t2v_query_mask(tokenizer, prompt, question)])
    new_tokens = model.generate(input_ids, images=images, t2v_query_mask=query_mask, max_new_tokens=4, do_sample=False)
    assert new_tokens.shape == (1, 4)
    assert bool((input_ids == IMAGE_TOKEN_INDEX).sum() == 1)


def test_projector_only_output_loads_with_model_base(pretrain_run, base_models) -> None:
    _, output, _ = pretrain_run
    assert sorted(p.name for p in output.iterdir() if p.is_file()) == ["config.json", "mm_projector.bin", "trainer_state.json"]
    weights = torch.load(output / "mm_projector.bin", weights_only=True)
    assert sorted(weights) == [f"model.mm_projector.{i}.{k}" for i in (0, 2) for k in ("bias", "weight")]
    checkpoint = output / "checkpoint-2"
    assert {"mm_projector.bin", "config.json", "optimizer.pt", "trainer_state.json"} <= {p.name for p in checkpoint.iterdir()}
    _, model, _, _ = load_pretrained_model(str(output), model_base=str(base_models[0]), device="cpu")
    loaded = model.get_model().mm_projector.state_dict()
    for key, value in weights.items():
        assert torch.equal(loaded[key.removeprefix("model.mm_projector.")], value)


def test_plain_pretraining_with_duet_has_finite_loss_and_scores(pretrain_run) -> None:
    """`plain` has no instruction text: T2V falls back to the last prompt position and must stay finite."""
    trainer, _, scores = pretrain_run
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3 and all(math.isfinite(loss) for loss in losses)
    assert len(scores) == 3 * 2  # every step scores at both stage layers
    assert all(bool(torch.isfinite(s).all()) for s in scores)
    assert all(bool((s.sum(dim=1) > 0).all()) for s in scores)  # each sample had a query that saw the image


def _first_image(data: Path):
    from PIL import Image

    return Image.open(data.parent / "img_0.png").convert("RGB")


def test_finetuning_continues_from_a_llava_checkpoint(finetune_run, tmp_path: Path) -> None:
    """LLaVA's custom-data recipe: start from a LLaVA checkpoint, whose config names the tower (no --vision_tower)."""
    _, checkpoint, data = finetune_run
    flags = common_flags((checkpoint, Path("unused")), data, tmp_path / "continued", "v1")
    flags[flags.index("--vision_tower") : flags.index("--vision_tower") + 2] = []
    trainer = run_training([*flags, *TINY_DUET_FLAGS, "--max_steps", "1", "--on_bad_data", "skip"])
    assert trainer.model.get_model().vision_tower.is_loaded and trainer.model.duet is not None
    assert math.isfinite(trainer.state.log_history[0]["loss"])
    assert (tmp_path / "continued" / "model.safetensors").is_file()
