"""DuetConfig validation, serialisation and resolution."""

from __future__ import annotations

import json
from typing import Any

import pytest

from duet import DuetConfig, list_presets, resolve
from duet.presets import get_preset


def test_defaults_are_no_compression() -> None:
    config = DuetConfig()
    assert (config.v2v_enabled, config.t2v_enabled, config.is_full) == (False, False, True)


def test_paper_presets_have_the_published_values() -> None:
    for name, (dominant, contextual) in {
        "llava-1.5:192": (300, 7),
        "llava-1.5:128": (170, 32),
        "llava-1.5:64": (72, 30),
    }.items():
        assert DuetConfig.from_preset(name) == DuetConfig(
            dominant=dominant,
            contextual=contextual,
            cluster_width=4,
            v2v_mode="duet",
            layer_list=(16, 24),
            ratio_list=(0.5, 0.0),
            query="salient",
            position_ids="compact",
        )
    assert DuetConfig.from_preset("full") == DuetConfig()


def test_peer_presets_have_the_documented_values() -> None:
    assert DuetConfig.from_preset("visionzip:128") == DuetConfig(dominant=108, contextual=20, v2v_mode="visionzip")
    assert DuetConfig.from_preset("pdrop:192") == DuetConfig(
        layer_list=(8, 16, 24), ratio_list=(0.254, 0.254**2, 0.254**3), query="last"
    )
    assert DuetConfig.from_preset("fastv:64") == DuetConfig(
        layer_list=(2,), ratio_list=(30 / 576,), query="instruction"
    )
    video = DuetConfig.from_preset("video-llava:136")
    assert (video.dominant, video.contextual, video.cluster_width, video.query) == (20, 7, 4, "last")


@pytest.mark.parametrize(
    ("kwargs", "field", "hint"),
    [
        ({"layer_list": (16,), "ratio_list": (1.5,)}, "ratio_list", "[0, 1]"),
        ({"layer_list": (16,), "ratio_list": (-0.1,)}, "ratio_list", "[0, 1]"),
        ({"layer_list": (8, 16), "ratio_list": (0.25, 0.5)}, "ratio_list", "non-increasing"),
        ({"layer_list": (8, 16), "ratio_list": (0.5,)}, "layer_list", "one ratio per stage"),
        ({"layer_list": (16, 8), "ratio_list": (0.5, 0.25)}, "layer_list", "strictly increasing"),
        ({"layer_list": (8, 8), "ratio_list": (0.5, 0.25)}, "layer_list", "strictly increasing"),
        ({"layer_list": (0,), "ratio_list": (0.5,)}, "layer_list", ">= 1"),
        ({"layer_list": 16, "ratio_list": (0.5,)}, "layer_list", "tuple or list"),
        ({"dominant": 0}, "dominant", "INCLUDING the CLS"),
        ({"dominant": True}, "dominant", "int >= 1"),
        ({"dominant": 10, "contextual": -1}, "contextual", ">= 0"),
        ({"contextual": 5}, "contextual", "set dominant"),
        ({"dominant": 10, "cluster_width": 0}, "cluster_width", ">= 1"),
        ({"dominant": 10, "v2v_mode": "tome"}, "v2v_mode", "'duet'"),
        ({"query": "all"}, "query", "'salient'"),
        ({"position_ids": "original"}, "position_ids", "'compact'"),
    ],
)
def test_bad_config_names_the_field_and_the_fix(kwargs: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(ValueError) as info:
        DuetConfig(**kwargs)
    message = str(info.value)
    assert message.startswith(f"DuetConfig.{field}:")
    assert hint in message
    assert "Fix:" in message


def test_validate_for_checks_layers_against_the_model() -> None:
    config = DuetConfig(layer_list=(16, 32), ratio_list=(0.5, 0.0))
    with pytest.raises(ValueError, match=r"DuetConfig\.layer_list: stage layer 32 .*1\.\.31"):
        config.validate_for(num_layers=32, num_patches=576)
    DuetConfig(layer_list=(31,), ratio_list=(0.0,)).validate_for(num_layers=32, num_patches=576)


def test_validate_for_checks_v2v_counts_against_the_patches() -> None:
    DuetConfig(dominant=11, contextual=6).validate_for(num_layers=2, num_patches=16)  # 10 + 6 == 16 fits
    with pytest.raises(ValueError, match=r"DuetConfig\.dominant: dominant - 1 \+ contextual = 17 exceeds the 16"):
        DuetConfig(dominant=11, contextual=7).validate_for(num_layers=2, num_patches=16)


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_round_trips_through_json(name: str) -> None:
    config = DuetConfig.from_preset(name)
    data = json.loads(json.dumps(config.to_dict()))
    assert isinstance(data["layer_list"], list) and isinstance(data["ratio_list"], list)
    assert DuetConfig.from_dict(data) == config
    assert get_preset(name).description


def test_to_dict_is_plain_json() -> None:
    assert DuetConfig.from_preset("llava-1.5:64").to_dict() == {
        "dominant": 72,
        "contextual": 30,
        "cluster_width": 4,
        "v2v_mode": "duet",
        "layer_list": [16, 24],
        "ratio_list": [0.5, 0.0],
        "query": "salient",
        "position_ids": "compact",
    }


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['dominant_num'\]"):
        DuetConfig.from_dict({"dominant_num": 300})


def test_unknown_preset_lists_the_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown DUET preset 'llava-1.5:32'.*llava-1\.5:64"):
        DuetConfig.from_preset("llava-1.5:32")


def test_resolve_accepts_every_natural_form() -> None:
    config = DuetConfig.from_preset("llava-1.5:128")
    assert resolve(None) is None
    assert resolve(config) is config
    assert resolve("llava-1.5:128") == config
    assert resolve(config.to_dict()) == config
    with pytest.raises(TypeError, match="preset name"):
        resolve(128)  # type: ignore[arg-type]
