"""The demo presets cut the same share of visual tokens as the paper's, and reach train.py intact."""

import pytest

from duet import DuetConfig
from duet.budget import reduction_percent, visual_tokens_per_layer
from llava.demo.presets import (
    DEMO_PATCHES,
    DEMO_PRESETS,
    PAPER_PRESETS,
    canonical_name,
    describe,
    tiny_shape,
    train_flags,
)
from llava.train.arguments import parse_arguments
from llava.train.duet_flags import duet_config_from_args

TINY_LAYERS = 4


@pytest.mark.parametrize(
    ("name", "per_layer", "paper_reduction"),
    [("192", [136, 136, 68, 0], 67), ("128", [90, 90, 45, 0], 78), ("64", [45, 45, 22, 0], 89)],
)
def test_demo_presets_match_the_paper_reductions(name: str, per_layer: list[int], paper_reduction: int) -> None:
    config = DEMO_PRESETS[name]
    assert visual_tokens_per_layer(config, TINY_LAYERS, DEMO_PATCHES) == per_layer
    demo = reduction_percent(config, TINY_LAYERS, DEMO_PATCHES)
    paper = reduction_percent(DuetConfig.from_preset(PAPER_PRESETS[name]), 32, 576)
    assert round(demo) == round(paper) == paper_reduction
    assert abs(demo - paper) < 0.5


def test_demo_presets_fit_the_tiny_model() -> None:
    assert tiny_shape().num_layers == TINY_LAYERS
    for config in DEMO_PRESETS.values():
        config.validate_for(TINY_LAYERS, DEMO_PATCHES)
        assert config.cluster_width == 4 and config.layer_list == (2, 3) and config.ratio_list == (0.5, 0.0)


@pytest.mark.parametrize(("alias", "name"), [("192", "192"), ("67", "192"), ("78%", "128"), ("89", "64"), ("64", "64")])
def test_canonical_names(alias: str, name: str) -> None:
    assert canonical_name(alias) == name


def test_unknown_preset_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match="use one of"):
        canonical_name("100")


def test_describe_states_the_budget() -> None:
    assert describe("89") == "DUET 64: 89% fewer visual tokens (avg 28 of 256)"


@pytest.mark.parametrize("name", sorted(DEMO_PRESETS))
def test_train_flags_round_trip_through_train_py(name: str) -> None:
    *_, duet_args = parse_arguments(["--output_dir", "unused", *train_flags(DEMO_PRESETS[name])])
    assert duet_config_from_args(duet_args) == DEMO_PRESETS[name]
