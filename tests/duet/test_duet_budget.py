"""Budget and FLOPs accounting, and the presets checked against it."""

from __future__ import annotations

import re

import pytest

from duet import DuetConfig, get_preset, list_presets
from duet.budget import (
    build_report,
    format_table,
    layer_averaged_budget,
    n0,
    predicted_speedup,
    prefill_flops,
    reduction_percent,
    training_flops,
    visual_tokens_per_layer,
)
from duet.flops import MODEL_SHAPES, ModelShape, layer_prefill_flops

SHAPE_7B = MODEL_SHAPES["llava-1.5-7b"]


@pytest.mark.parametrize(
    ("name", "first", "middle", "average", "reduction"),
    [
        ("llava-1.5:192", 307, 153, 191.75, 100 * (1 - 191.75 / 576)),
        ("llava-1.5:128", 202, 101, 126.25, 100 * (1 - 126.25 / 576)),
        ("llava-1.5:64", 102, 51, 63.75, 100 * (1 - 63.75 / 576)),
    ],
)
def test_paper_budgets_are_exact(name: str, first: int, middle: int, average: float, reduction: float) -> None:
    config = DuetConfig.from_preset(name)
    assert n0(config, 576) == first
    assert visual_tokens_per_layer(config, 32, 576) == [first] * 16 + [middle] * 8 + [0] * 8
    assert layer_averaged_budget(config, 32, 576) == average
    assert reduction_percent(config, 32, 576) == reduction


def test_published_reduction_percentages_round_as_claimed() -> None:
    assert round(reduction_percent(DuetConfig.from_preset("llava-1.5:192"), 32, 576), 1) == 66.7
    assert round(reduction_percent(DuetConfig.from_preset("llava-1.5:64"), 32, 576), 1) == 88.9


def test_video_budgets_rank_all_frames_jointly() -> None:
    assert layer_averaged_budget(DuetConfig.from_preset("video-llava:960"), 32, 256, num_images=8) == 960.0
    assert layer_averaged_budget(DuetConfig.from_preset("video-llava:136"), 32, 256, num_images=8) == 135.0
    assert visual_tokens_per_layer(DuetConfig.from_preset("video-llava:136"), 32, 256, 8)[16] == 108
    assert round(reduction_percent(DuetConfig.from_preset("video-llava:960"), 32, 256, 8), 1) == 53.1
    assert round(reduction_percent(DuetConfig.from_preset("video-llava:136"), 32, 256, 8), 1) == 93.4


def test_full_keeps_every_patch() -> None:
    assert visual_tokens_per_layer(None, 4, 576, num_images=2) == [1152] * 4
    assert layer_averaged_budget(DuetConfig(), 32, 576) == 576


def test_ratios_are_relative_to_n0_not_cumulative() -> None:
    config = DuetConfig(layer_list=(1, 2), ratio_list=(0.5, 0.5))
    assert visual_tokens_per_layer(config, 3, 100) == [100, 50, 50]


@pytest.mark.parametrize("name", list_presets())
def test_preset_descriptions_quote_the_computed_budget(name: str) -> None:
    preset = get_preset(name)
    config = DuetConfig.from_preset(name)
    budget = layer_averaged_budget(
        config, MODEL_SHAPES[preset.model].num_layers, preset.patches_per_image, preset.num_images
    )
    quoted = re.search(r"avg ([0-9]+(?:\.[0-9]+)?)", preset.description)
    if quoted:
        assert float(quoted.group(1)) == budget


@pytest.mark.parametrize("target", [192, 128, 64])
@pytest.mark.parametrize("method", ["pdrop", "fastv", "visionzip"])
def test_peer_presets_meet_their_budget(method: str, target: int) -> None:
    budget = layer_averaged_budget(DuetConfig.from_preset(f"{method}:{target}"), 32, 576)
    assert abs(budget - target) <= 1.0
    if method == "visionzip":
        assert budget == target


def test_peer_keep_counts_are_the_intended_integers() -> None:
    assert visual_tokens_per_layer(DuetConfig.from_preset("fastv:192"), 32, 576)[2] == 166
    assert visual_tokens_per_layer(DuetConfig.from_preset("fastv:128"), 32, 576)[2] == 98
    assert visual_tokens_per_layer(DuetConfig.from_preset("fastv:64"), 32, 576)[2] == 30
    pdrop = visual_tokens_per_layer(DuetConfig.from_preset("pdrop:192"), 32, 576)
    assert (pdrop[8], pdrop[16], pdrop[24]) == (146, 37, 9)


def test_stage_after_last_layer_is_rejected() -> None:
    with pytest.raises(ValueError, match="layer_list"):
        visual_tokens_per_layer(DuetConfig(layer_list=(4,), ratio_list=(0.5,)), 4, 16)


TINY = ModelShape(num_layers=2, hidden=4, intermediate=8, num_heads=2, num_kv_heads=1, head_dim=2)


def test_layer_flops_by_hand() -> None:
    # proj 2·n·4·(2·2·2 + 2·1·2) = 96n, attention 2·2·n²·2·2 = 16n², MLP 2·3·n·4·8 = 192n.
    assert layer_prefill_flops(TINY, 6) == 96 * 6 + 16 * 36 + 192 * 6 == 2304
    assert layer_prefill_flops(TINY, 4) == 96 * 4 + 16 * 16 + 192 * 4 == 1408


def test_prefill_and_training_flops_by_hand() -> None:
    config = DuetConfig(layer_list=(1,), ratio_list=(0.5,))  # 4 patches → 4 then 2 visual, plus 2 text tokens
    assert prefill_flops(config, TINY, patches_per_image=4, text_tokens=2) == 2304 + 1408
    assert training_flops(config, TINY, patches_per_image=4, text_tokens=2) == 3 * 3712
    assert predicted_speedup(config, TINY, 4, text_tokens=2) == 2 * 2304 / 3712


def test_speedups_grow_as_the_budget_shrinks() -> None:
    speedups = [
        predicted_speedup(DuetConfig.from_preset(n), SHAPE_7B, 576)
        for n in ("full", "llava-1.5:192", "llava-1.5:128", "llava-1.5:64")
    ]
    assert speedups[0] == 1.0
    assert speedups == sorted(speedups) and speedups[-1] > 4


def test_model_shapes() -> None:
    assert MODEL_SHAPES["llava-1.5-13b"] == ModelShape(40, 5120, 13824, 40, 40, 128)
    assert MODEL_SHAPES["video-llava-7b"] == SHAPE_7B == ModelShape(32, 4096, 11008, 32, 32, 128)


def test_format_table_aligns_columns() -> None:
    reports = [
        build_report(name, DuetConfig.from_preset(name), "llava-1.5-7b", SHAPE_7B, 576)
        for name in ("full", "llava-1.5:64")
    ]
    lines = format_table(reports).splitlines()
    column = lines[0].index("llava-1.5:64")
    average = next(line for line in lines if line.startswith("avg visual tokens"))
    reduction = next(line for line in lines if line.startswith("reduction"))
    assert average.index("63.75") == column and reduction.index("88.9%") == column
    assert reports[1].per_layer == (102,) * 16 + (51,) * 8 + (0,) * 8
