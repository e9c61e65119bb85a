"""The DUET flag group: presets, the authors' and our spellings, list formats, and contradictory combinations."""

import argparse

import pytest

from duet.config import DuetConfig
from llava.eval.cli import parse_eval_args
from llava.eval.duet_args import DuetArgsError, add_duet_args, add_model_loading_args, duet_config_from_args


def parse(*argv: str) -> DuetConfig | None:
    parser = argparse.ArgumentParser()
    add_duet_args(parser)
    return duet_config_from_args(parser.parse_args(list(argv)))


def test_no_flag_keeps_the_checkpoint_setting() -> None:
    assert parse() is None


def test_preset_alone_and_both_spellings() -> None:
    assert parse("--duet-preset", "llava-1.5:64") == DuetConfig.from_preset("llava-1.5:64")
    assert parse("--duet_preset", "visionzip:64") == DuetConfig.from_preset("visionzip:64")
    assert parse("--duet-preset", "full").is_full


def test_authors_flags_reproduce_the_192_preset() -> None:
    authors = parse(
        "--dominant_num", "300", "--context_num", "7", "--cluster_width", "4", "--layer_list", "[16,24]",
        "--image_token_ratio_list", "[0.5,0.0]", "--compute_salient_tokens", "True",
    )  # fmt: skip
    ours = parse(
        "--dominant", "300", "--contextual", "7", "--cluster-width", "4", "--layer-list", "16", "24",
        "--image-token-ratio-list", "0.5,0.0", "--t2v-query", "salient",
    )  # fmt: skip
    assert authors == ours == DuetConfig.from_preset("llava-1.5:192")


def test_explicit_flags_override_the_preset() -> None:
    config = parse("--duet-preset", "llava-1.5:64", "--dominant", "40", "--contextual", "12", "--layer-list", "[2,3]",
                   "--image-token-ratio-list", "[0.5,0.0]", "--t2v-position-ids", "keep")  # fmt: skip
    expected = DuetConfig(dominant=40, contextual=12, cluster_width=4, layer_list=(2, 3), ratio_list=(0.5, 0.0),
                          query="salient", position_ids="keep")  # fmt: skip
    assert config == expected


def test_compute_salient_tokens_false_means_instruction_queries() -> None:
    assert parse("--duet-preset", "llava-1.5:128", "--compute_salient_tokens", "False").query == "instruction"


def test_empty_lists_turn_t2v_off() -> None:
    config = parse("--duet-preset", "llava-1.5:64", "--layer-list", "[]", "--image-token-ratio-list", "[]")
    assert config.v2v_enabled and not config.t2v_enabled


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--compute_salient_tokens", "True", "--t2v-query", "last", "--duet-preset", "llava-1.5:64"], "contradicts"),
        (["--layer-list", "[16,24]"], "2 stage layer"),
        (["--duet-preset", "llava-1.5:64", "--image-token-ratio-list", "[0.5]"], "2 stage layer"),
        (["--contextual", "7"], "contextual"),
        (["--duet-preset", "pdrop:64", "--cluster-width", "2"], "only meaningful with V2V"),
        (["--duet-preset", "visionzip:64", "--t2v-query", "salient"], "only meaningful with T2V"),
        (["--duet-preset", "llava-1.5:9"], "unknown DUET preset"),
        (["--layer-list", "[16,x]", "--image-token-ratio-list", "[0.5,0.0]"], "expected ints"),
        (["--layer-list", "[24,16]", "--image-token-ratio-list", "[0.5,0.0]"], "strictly increasing"),
    ],
)
def test_bad_combinations(argv: list[str], message: str) -> None:
    with pytest.raises(DuetArgsError, match=message):
        parse(*argv)


def test_bad_boolean_and_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse("--compute_salient_tokens", "maybe")
    parser = argparse.ArgumentParser()
    add_model_loading_args(parser)
    add_duet_args(parser)
    with pytest.raises(SystemExit) as exit_info:
        parse_eval_args(parser, ["--contextual", "7", "--device", "cpu"])
    assert exit_info.value.code == 2
    assert "--contextual" in capsys.readouterr().err
