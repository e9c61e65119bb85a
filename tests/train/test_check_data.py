"""The data check names every bad entry by id and kind; `refuse` stops before a model exists, `skip` drops them,
`truncate` (the default) cuts over-long entries as LLaVA does; a malformed file is reported by file, line, column."""

import json
import logging
import math
import typing
from pathlib import Path

import pytest
from transformers import AutoTokenizer

import llava.train.train as train_module
from duet.salient import SalientWordFinder
from llava.constants import IGNORE_INDEX
from llava.data.preprocess import tokenize_conversation
from llava.testing.tiny_llava import clip_image_processor
from llava.train.check_data import build_parser
from llava.train.check_data import main as check_data_main
from llava.train.dataset import LazySupervisedDataset
from llava.train.records import load_records
from tests.train.tiny_runs import TINY_DUET_FLAGS, common_flags, write_dataset

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


# ------------------------------------------------------------------------------- malformed files, same flag, truncate
def test_malformed_json_names_file_line_and_column(
    base_models, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    data = write_dataset(tmp_path / "data", "v1", "it")
    lines = data.read_text().splitlines()
    broken_line = next(i for i, line in enumerate(lines) if '"value"' in line)
    lines[broken_line] = lines[broken_line].rstrip(",") + " oops,"
    data.write_text("\n".join(lines))
    assert check_data_main(check_flags(base_models, data)) == 2
    assert f"{data}:{broken_line + 1}:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        train_module.train(common_flags(base_models, data, tmp_path / "out", "v1"))
    assert exit_info.value.code == 1 and f"{data}:{broken_line + 1}:" in caplog.text


def test_malformed_jsonl_line_and_json_lines_in_a_json_file(base_models, tmp_path: Path, capsys) -> None:
    records = json.loads(write_dataset(tmp_path, "v1", "itt").read_text())
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text("\n".join([json.dumps(records[0]), "", json.dumps(records[1])[:-1], json.dumps(records[2])]))
    assert check_data_main(check_flags(base_models, jsonl)) == 2
    assert f"{jsonl}:3:" in capsys.readouterr().err and "Fix or remove that line" in str(
        pytest.raises(ValueError, load_records, jsonl).value
    )
    lines_in_json = tmp_path / "lines.json"
    lines_in_json.write_text("\n".join(json.dumps(r) for r in records))
    with pytest.raises(ValueError, match=r"lines\.json:2:1: malformed JSON \(Extra data\).*name it \.jsonl"):
        load_records(lines_in_json)


def test_check_data_and_train_share_the_policy_flag(base_models, tmp_path: Path) -> None:
    data = write_bad_dataset(tmp_path)
    assert check_data_main([*check_flags(base_models, data), "--on_bad_data", "skip"]) == 0
    assert check_data_main([*check_flags(base_models, data), "--on_error", "skip"]) == 0  # the old name, an alias
    parser_flags = {action.dest: action.choices for action in build_parser()._actions if action.dest == "on_bad_data"}
    from llava.train.arguments import DataArguments

    assert tuple(parser_flags["on_bad_data"]) == typing.get_args(DataArguments.__annotations__["on_bad_data"])


def _long_text_entry(sample_id: str, words: int) -> dict:
    return {"id": sample_id, "conversations": [{"from": "human", "value": "What is this about?"},
                                               {"from": "gpt", "value": "red " * words}]}  # fmt: skip


def test_truncate_keeps_over_long_entries_and_cuts_them_as_llava(base_models, tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path, "v1", "it")
    image_first_long = {"id": "long-after-image", "image": "img_0.png", "conversations": [
        {"from": "human", "value": "<image>\nDescribe it."}, {"from": "gpt", "value": "red " * 600}]}  # fmt: skip
    data.write_text(json.dumps([*json.loads(data.read_text()), _long_text_entry("long-text", 600), image_first_long]))
    flags = check_flags(base_models, data)
    assert check_data_main([*flags, "--on_bad_data", "refuse"]) == 1
    assert check_data_main(flags) == 0  # truncate is the default, as in train.py
    out = capsys.readouterr().out
    assert "[too_long] id=long-text " in out and "[too_long] id=long-after-image " in out
    assert "2 of 4 entries are longer than model_max_length and are trained on cut at that length" in out
    tokenizer = AutoTokenizer.from_pretrained(str(base_models[0]))
    dataset = LazySupervisedDataset(
        load_records(data), tokenizer, "v1", image_processor=clip_image_processor(224), image_folder=str(tmp_path),
        image_aspect_ratio="pad", max_positions=512, image_tokens=48,
    )  # fmt: skip
    text_item, image_item = dataset[2], dataset[3]
    assert len(text_item["input_ids"]) == 512 and len(text_item["labels"]) == 512
    spliced = len(image_item["input_ids"]) - 1 + 48  # the placeholder becomes 48 visual positions
    assert spliced == 512 and bool((image_item["labels"] != IGNORE_INDEX).any())
    whole = tokenize_conversation(json.loads(data.read_text())[2]["conversations"], tokenizer, "v1", False, "x")
    assert text_item["input_ids"].tolist() == whole.input_ids[:512]  # LLaVA's cut: the first positions, unchanged


def test_truncate_still_stops_on_what_no_cut_can_fix(base_models, tmp_path: Path, capsys) -> None:
    data = write_dataset(tmp_path, "v1", "i")
    flags = check_flags(base_models, data)
    flags[flags.index("--image_tokens") + 1] = "576"
    flags[flags.index("--model_max_length") + 1] = "580"  # the cut would fall inside the image
    assert check_data_main(flags) == 1
    out = capsys.readouterr().out
    assert "[too_long] id=img-0 " in out and "cannot be cut there" in out and "stop the run" in out


def test_training_goes_on_with_over_long_entries_and_records_the_query_path(
    base_models, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """The paper scripts' situation: a handful of over-long samples in a real mix; the run lists them and trains."""
    data = write_dataset(tmp_path / "data", "v1", "itit")
    data.write_text(json.dumps([*json.loads(data.read_text()), _long_text_entry("sharegpt-long", 700)]))
    caplog.set_level(logging.INFO, logger="llava.train")
    output = tmp_path / "out"
    flags = common_flags(base_models, data, output, "v1") + TINY_DUET_FLAGS + ["--max_steps", "2"]
    trainer = train_module.train(flags)
    assert "[too_long] id=sharegpt-long " in capsys.readouterr().out
    assert len(trainer.train_dataset) == 5 and math.isfinite(trainer.state.log_history[-1]["train_loss"])
    path = SalientWordFinder().path
    assert f"found by the {path!r} path" in caplog.text
    assert json.loads((output / "config.json").read_text())["duet_salient_path"] == path
