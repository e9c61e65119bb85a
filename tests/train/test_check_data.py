"""The data check names every bad entry by id and kind; `refuse` stops before a model exists, `skip` drops them."""

import json
from pathlib import Path

import pytest

import llava.train.train as train_module
from llava.train.check_data import main as check_data_main
from tests.train.tiny_runs import common_flags, write_dataset

GOOD_TURNS = [{"from": "human", "value": "<image>\nWhat color is the square?"}, {"from": "gpt", "value": "Red."}]
EXPECTED = {
    "no-file": "missing_image",
    "not-an-image": "unreadable_image",
    "marker-without-image": "image_placeholder_mismatch",
    "image-without-marker": "image_placeholder_mismatch",
    "no-answer": "no_assistant_turn",
    "two-humans": "bad_conversation",
    "very-long": "too_long",
    "no-conversations": "bad_record",
    "two-images": "multiple_images",
}


def write_bad_dataset(folder: Path) -> Path:
    """A valid dataset (ids img-0, txt-1) plus one entry per problem kind, ids as in `EXPECTED`."""
    data = write_dataset(folder, "v1", "it")
    (folder / "not_an_image.png").write_text("this is text")
    question = "What color is the square?"
    bad = [
        {"id": "no-file", "image": "missing.png", "conversations": GOOD_TURNS},
        {"id": "not-an-image", "image": "not_an_image.png", "conversations": GOOD_TURNS},
        {"id": "marker-without-image", "conversations": GOOD_TURNS},
        {"id": "image-without-marker", "image": "img_0.png",
         "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": "Red."}]},
        {"id": "no-answer", "image": "img_0.png",
         "conversations": [{"from": "human", "value": "<image>\n" + question}, {"from": "gpt", "value": "  "}]},
        {"id": "two-humans", "conversations": [{"from": "human", "value": question}, {"from": "human", "value": "Hi"},
                                               {"from": "gpt", "value": "Red."}]},
        {"id": "very-long", "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": "red " * 600}]},
        {"id": "no-conversations", "image": "img_0.png"},
        {"id": "two-images", "image": ["img_0.png", "img_0.png"], "conversations": GOOD_TURNS},
    ]
    data.write_text(json.dumps(json.loads(data.read_text()) + bad))
    return data


def check_flags(base_models: tuple[Path, Path], data: Path) -> list[str]:
    return [
        "--data_path", str(data),
        "--image_folder", str(data.parent),
        "--model_name_or_path", str(base_models[0]),
        "--version", "v1",
        "--model_max_length", "512",
        "--image_tokens", "48",
    ]


def test_cli_reports_each_kind_with_its_id(base_models, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_bad_dataset(tmp_path)
    assert check_data_main(check_flags(base_models, data)) == 1
    lines = capsys.readouterr().out.splitlines()
    for sample_id, kind in EXPECTED.items():
        assert any(f"[{kind}] id={sample_id} " in line for line in lines), (sample_id, kind, lines)
    assert not any("id=img-0 " in line or "id=txt-1 " in line for line in lines)
    assert lines[-1].startswith(f"data check: {len(EXPECTED)} of {len(EXPECTED) + 2} entries have problems")


def test_cli_skip_exits_zero(base_models, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_bad_dataset(tmp_path)
    assert check_data_main([*check_flags(base_models, data), "--on_error", "skip"]) == 0
    assert "skipping them, 2 entries remain" in capsys.readouterr().out.splitlines()[-1]


def test_cli_accepts_a_clean_file(base_models, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_dataset(tmp_path, "v1", "itti")
    assert check_data_main(check_flags(base_models, data)) == 0
    assert "all 4 entries are valid" in capsys.readouterr().out


def test_visual_tokens_count_towards_the_length(base_models, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = write_dataset(tmp_path, "v1", "i")
    flags = [*check_flags(base_models, data)]
    flags[flags.index("--image_tokens") + 1] = "576"
    flags[flags.index("--model_max_length") + 1] = "580"
    assert check_data_main(flags) == 1
    assert "[too_long] id=img-0 " in capsys.readouterr().out


def test_train_refuses_bad_data_before_building_the_model(
    base_models, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    def must_not_run(*args, **kwargs):
        raise AssertionError("the model was built although the data check failed")

    monkeypatch.setattr(train_module, "build_model", must_not_run)
    data = write_bad_dataset(tmp_path / "data")
    with pytest.raises(SystemExit) as exit_info:
        train_module.train(common_flags(base_models, data, tmp_path / "out", "v1"))
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    assert all(f"id={sample_id} " in out for sample_id in EXPECTED)
