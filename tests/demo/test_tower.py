"""The demo's tower pretraining: its CLS attention is the model's own, its targets are exact, its cache is keyed and
atomic, and the saved tower is an ordinary CLIP folder with its image processor."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

from llava.demo import tower
from llava.demo.scenes import BACKGROUND, Scene, Shape, render_object_mask, render_scene
from llava.testing.tiny_llava import clip_image_processor, read_tiny_config

TINY = tower.TowerRecipe(steps=2, batch_size=4, train_scenes=8, eval_scenes=4)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random tiny CLIP folder, as `llava.demo.base_models` writes it."""
    folder = tmp_path_factory.mktemp("base") / "tiny-clip-224"
    torch.manual_seed(0)
    CLIPVisionModel(CLIPVisionConfig(**read_tiny_config("clip_vision_224"))).save_pretrained(folder)
    clip_image_processor(224).save_pretrained(folder)
    return folder


def test_cls_attention_and_features_match_the_models_own_outputs(base: Path) -> None:
    model = CLIPVisionModel.from_pretrained(base, attn_implementation="eager").eval()
    pixels = torch.randn(2, 3, 224, 224)
    entry = tower.select_layer_entry(model, -2)
    with torch.no_grad():
        features, attention = tower.forward_select_layer(model, pixels, entry)
        reference = model(pixels, output_attentions=True, output_hidden_states=True)
    torch.testing.assert_close(features, reference.hidden_states[entry])
    torch.testing.assert_close(attention, reference.attentions[entry - 1][:, :, 0, 1:].mean(1))


def test_select_layer_entry_follows_llava() -> None:
    model = CLIPVisionModel(CLIPVisionConfig(**read_tiny_config("clip_vision_224")))  # 3 layers
    assert tower.select_layer_entry(model, -2) == 2
    assert tower.select_layer_entry(model, -1) == 3
    with pytest.raises(ValueError, match="outside a 3-layer tower"):
        tower.select_layer_entry(model, -5)


def _square_scene() -> Scene:
    # A 28 x 28 square (pixels 14..42 inclusive in both axes) over patches (1, 1) to (3, 3) of the 16 x 16 grid.
    square = Shape("square", "red", x=28, y=28, radius=14, side="left")
    return Scene(size=224, background=BACKGROUND, shapes=(square,))


def test_object_mask_marks_exactly_the_drawn_pixels() -> None:
    scene = _square_scene()
    picture = np.array(render_scene(scene))
    mask = np.array(render_object_mask(scene))
    drawn = (picture != np.array(BACKGROUND)).any(-1)
    assert np.array_equal(mask > 0, drawn)
    assert set(np.unique(mask)) == {0, 1}


def test_patch_owners_count_outline_patches() -> None:
    owners = tower.patch_owners(_square_scene(), patch_size=14).reshape(16, 16)
    # Patches (1..2, 1..2) are fully covered, row/column 3 has one pixel column of the square (1/14 < 0.2).
    expected = torch.zeros(16, 16, dtype=torch.long)
    expected[1:3, 1:3] = 1
    assert torch.equal(torch.from_numpy(owners), expected)


def test_attention_target_gives_each_object_an_equal_share() -> None:
    owner = torch.tensor([[0, 1, 1, 1, 2, 0], [0, 0, 0, 0, 0, 0]])
    target = tower.object_attention_target(owner)
    torch.testing.assert_close(target.sum(-1), torch.ones(2))
    torch.testing.assert_close(target[0], torch.tensor([0, 1 / 6, 1 / 6, 1 / 6, 1 / 2, 0]))
    torch.testing.assert_close(target[1], torch.full((6,), 1 / 6))


def test_trained_tower_is_cached_by_config_seed_and_recipe(base: Path, tmp_path: Path, capsys) -> None:
    cache = tmp_path / "towers"
    first = tower.trained_tower(base, cache, TINY)
    assert first.parent == cache and first.name.startswith("tiny-clip-224-seed0-")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert tower.trained_tower(base, cache, TINY) == first
    assert "reusing" in capsys.readouterr().err
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    other_seed = tower.trained_tower(base, cache, tower.TowerRecipe(**{**TINY.__dict__, "seed": 1}))
    assert other_seed != first and other_seed.name.startswith("tiny-clip-224-seed1-")
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, other_seed.name])

    record = json.loads((first / tower.TRAINING_RECORD).read_text())
    assert record["recipe"] == TINY.__dict__
    assert [entry["step"] for entry in record["log_history"]] == [1, 2]
    assert 0.0 <= record["held_out"]["cls_attention_on_objects"] <= 1.0
    assert {"objects_in_dominant_192", "objects_in_dominant_64", "object_shape"} <= set(record["held_out"])


def test_saved_tower_loads_with_its_own_normalisation(base: Path, tmp_path: Path) -> None:
    folder = tower.trained_tower(base, tmp_path, TINY)
    model = CLIPVisionModel.from_pretrained(folder)
    assert model.config.to_dict()["hidden_size"] == read_tiny_config("clip_vision_224")["hidden_size"]
    processor = CLIPImageProcessor.from_pretrained(folder)
    scenes = tower.draw_scenes(TINY.train_scenes, f"{TINY.seed}-tower-train", 224, 14)
    mean, std = tower.pixel_statistics(scenes.pixels)
    assert processor.image_mean == pytest.approx(mean) and processor.image_std == pytest.approx(std)
    # The processor's own preprocessing equals the tensor normalisation used in training.
    picture = render_scene(_square_scene())
    expected = tower.normalise(torch.from_numpy(np.array(picture)).permute(2, 0, 1)[None], processor)
    actual = processor(images=picture, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_an_interrupted_training_leaves_nothing_behind(base: Path, tmp_path: Path, monkeypatch) -> None:
    def crash(*args: object, **kwargs: object) -> dict:
        raise KeyboardInterrupt

    monkeypatch.setattr(tower, "train", crash)
    with pytest.raises(KeyboardInterrupt):
        tower.trained_tower(base, tmp_path, TINY)
    assert list(tmp_path.iterdir()) == []
