"""A DUET training step keeps exactly the budget's visual tokens in every decoder layer, with gradient checkpointing.

The model, tokenizer and dataset are built by the same functions `train.py` uses. Visual tokens are counted, not
timed: a forward pre-hook records each decoder layer's input length, and the model's own masks
(`visual_token_mask`, `t2v_keep_masks`) say which positions were visual.
"""


import pytest
import torch

from duet.budget import visual_tokens_per_layer
from duet.salient import SalientWordFinder
from llava.constants import IMAGE_TOKEN_INDEX
from llava.train.arguments import parse_arguments
from llava.train.collator import DataCollatorForSupervisedDataset
from llava.train.dataset import LazySupervisedDataset
from llava.train.duet_flags import duet_config_from_args
from llava.train.model_setup import build_model, load_tokenizer
from llava.train.records import load_records
from tests.train.tiny_runs import TINY_DUET_FLAGS, TINY_LAYERS, TINY_PATCHES, common_flags, write_dataset


@pytest.fixture(scope="module")
def step_setup(base_models, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("duet_step")
    data = write_dataset(root / "data", "v1", "iiti")
    flags = common_flags(base_models, data, root / "out", "v1") + TINY_DUET_FLAGS + ["--gradient_checkpointing", "True"]
    model_args, data_args, training_args, duet_args = parse_arguments(flags)
    config = duet_config_from_args(duet_args)
    model = build_model(model_args, data_args, training_args, config)
    model.activation_checkpointing_enable()  # what the Trainer does for --gradient_checkpointing
    assert model.is_activation_checkpointing
    model.train()
    tokenizer = load_tokenizer(model_args, training_args)
    dataset = LazySupervisedDataset(
        load_records(data), tokenizer, "v1", model.get_vision_tower().image_processor, str(data.parent), "pad",
        query_spans_fn=SalientWordFinder().spans,
    )
    return model, dataset, config, DataCollatorForSupervisedDataset(tokenizer.pad_token_id)


def test_visual_tokens_per_layer_match_the_budget(step_setup) -> None:
    model, dataset, config, collate = step_setup
    expected = visual_tokens_per_layer(config, TINY_LAYERS, TINY_PATCHES, 1)
    assert expected == [48, 48, 24, 0]
    batch = collate([dataset[0]])  # one sample, so no padding: layer length = text + visual tokens
    text_tokens = int((batch["input_ids"] != IMAGE_TOKEN_INDEX).sum())
    lengths: list[int] = []
    hooks = [
        layer.register_forward_pre_hook(lambda _, args: lengths.append(args[0].shape[1]))
        for layer in model.get_model().layers
    ]
    try:
        output = model(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    assert [length - text_tokens for length in lengths] == expected
    assert int(output.visual_token_mask.sum()) == expected[0]
    assert [int(mask.sum()) for mask in output.t2v_keep_masks] == [expected[2], expected[3]]
    output.loss.backward()  # recomputes the checkpointed layers on the pruned sequences
    assert torch.isfinite(output.loss)
    projector_grad = model.get_model().mm_projector[0].weight.grad
    assert projector_grad is not None and bool(projector_grad.abs().sum() > 0)
    model.zero_grad()


def test_mixed_batch_keeps_per_sample_budgets(step_setup) -> None:
    model, dataset, config, collate = step_setup
    batch = collate([dataset[i] for i in range(4)])  # image, image, text-only, image
    output = model(**batch)
    per_sample_visual = output.visual_token_mask.sum(dim=1).tolist()
    assert per_sample_visual == [48, 48, 0, 48]
    kept = [mask.sum(dim=1).tolist() for mask in output.t2v_keep_masks]
    assert kept == [[24, 24, 0, 24], [0, 0, 0, 0]]
    output.loss.backward()
    model.zero_grad()


def test_text_only_batch_still_runs_the_vision_path(step_setup) -> None:
    """ZeRO-3 needs every rank to use the tower and projector even when its batch has no image."""
    model, dataset, _, collate = step_setup
    batch = collate([dataset[2]])
    assert "images" not in batch
    output = model(**batch)
    output.loss.backward()
    projector_grad = model.get_model().mm_projector[0].weight.grad
    assert projector_grad is not None and bool((projector_grad == 0).all())
    model.zero_grad()
