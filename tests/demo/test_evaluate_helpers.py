"""The evaluator's prompt, left padding and image shuffle (the model-facing parts run in the smoke test)."""

import torch

from llava.demo.evaluate import build_prompt, duet_override, left_pad, shuffled_image_map
from llava.demo.presets import DEMO_PRESETS


def test_prompt_is_llava_vicuna_v1_with_an_open_assistant_turn() -> None:
    prompt = build_prompt("How many shapes are there?")
    assert prompt.endswith("USER: <image>\nHow many shapes are there? ASSISTANT:")
    assert prompt.startswith("A chat between a curious user and an artificial intelligence assistant.")


def test_left_pad_aligns_the_last_tokens() -> None:
    ids, mask = left_pad([torch.tensor([5, 6, 7]), torch.tensor([8])], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_shuffle_moves_every_image_and_is_seeded() -> None:
    images = [f"images/eval/{i:06d}.png" for i in range(10) for _ in range(4)]
    mapping = shuffled_image_map(images, seed=0)
    assert sorted(mapping) == sorted(set(images)) == sorted(mapping.values())
    assert all(source != target for source, target in mapping.items())
    assert mapping == shuffled_image_map(images, seed=0) != shuffled_image_map(images, seed=1)


def test_duet_override() -> None:
    assert duet_override("checkpoint") is None
    assert duet_override("none") == "full"
    assert duet_override("67") == DEMO_PRESETS["192"]
    assert duet_override("llava-1.5:64") == "llava-1.5:64"
