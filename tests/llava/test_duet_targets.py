"""Training targets under T2V: labels are shifted to next-token targets before kept positions are gathered.

With the `plain` pretraining template and a stage that keeps no visual token, gathering first and shifting after
made BOS predict the caption's first token with nothing but BOS to look at: an image-blind target. Shifting first,
a kept position keeps its own target and a dropped position's target is dropped with it, so every supervised
position's loss depends on the image.
"""

import torch

import duet
from duet.config import DuetConfig
from llava.data.preprocess import tokenize_conversation
from llava.testing.tiny_llava import build_tiny_llava, random_images

# The paper's 192 preset (V2V 300/7/w4, then half of N0 after the first stage and none after the second), with
# the stages moved to the tiny decoder's layers 2 and 3 of 4.
PAPER_192_TINY = DuetConfig(
    dominant=300, contextual=7, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.0), query="instruction"
)


def _per_position_loss(model, ids: torch.Tensor, labels: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    out = model(input_ids=ids, images=image, labels=labels)
    spliced = model.prepare_multimodal_inputs(ids, None, labels, image, None, "right").labels
    targets = torch.nn.functional.pad(spliced[:, 1:], (0, 1), value=-100).gather(1, out.kept_index)
    loss = torch.nn.functional.cross_entropy(out.logits[0], targets[0], ignore_index=-100, reduction="none")
    torch.testing.assert_close(out.loss, loss[targets[0] != -100].mean())
    return loss, targets[0]


def test_every_supervised_position_sees_the_image_in_plain_pretraining() -> None:
    tiny = build_tiny_llava(seed=3)
    model = duet.apply(tiny.model, PAPER_192_TINY)
    turns = [{"from": "human", "value": "<image>\nDescribe it."}, {"from": "gpt", "value": "a red circle left of a blue square"}]
    sample = tokenize_conversation(turns, tiny.tokenizer, "plain", True, "plain-0")
    ids, labels = torch.tensor([sample.input_ids]), torch.tensor([sample.labels])
    with torch.no_grad():
        loss_a, targets = _per_position_loss(model, ids, labels, random_images(1, seed=1))
        loss_b, targets_b = _per_position_loss(model, ids, labels, random_images(1, seed=2))
    supervised = targets != -100
    assert torch.equal(targets, targets_b)
    # BOS (position 0) predicted the first caption token before; now no position without image context has a target.
    assert not bool(supervised[0])
    caption_tokens = int((labels != -100).sum())
    assert int(supervised.sum()) == caption_tokens - 1  # the first caption token's predictor (last visual) was dropped
    assert bool(((loss_a - loss_b).abs() > 0)[supervised].all())
