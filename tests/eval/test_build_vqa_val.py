"""The val question files for local VQAv2 / VizWiz scores: LLaVA's test-file format from the official files, the
prompt suffix copied from LLaVA's own test file, and a file `eval_vqa` scores end to end."""

import json
from pathlib import Path

import pytest

from llava.eval import build_vqa_val, eval_vqa
from tests.eval.conftest import read_jsonl, write_jsonl

VQAV2_TEST_LINE = {
    "question_id": 262144000,
    "image": "COCO_test2015_000000262144.jpg",
    "text": "Is the ball flying towards the batter?\nAnswer the question using a single word or phrase.",
    "category": "default",
}  # the first line of LLaVA's llava_vqav2_mscoco_test-dev2015.jsonl


def test_vqav2_val_file_matches_the_test_files_format(tmp_path: Path) -> None:
    official = {"questions": [{"question_id": 42000, "image_id": 42, "question": "What colour is the bus?"},
                              {"question_id": 7001, "image_id": 7, "question": "How many dogs?"}]}  # fmt: skip
    (tmp_path / "v2_val.json").write_text(json.dumps(official))
    test_file = write_jsonl(tmp_path / "test-dev.jsonl", [VQAV2_TEST_LINE])
    out = build_vqa_val.main(["--benchmark", "vqav2", "--questions", str(tmp_path / "v2_val.json"),
                              "--out", str(tmp_path / "val.jsonl"), "--suffix-from", str(test_file)])  # fmt: skip
    assert read_jsonl(out) == [
        {"question_id": 42000, "image": "COCO_val2014_000000000042.jpg",
         "text": "What colour is the bus?\nAnswer the question using a single word or phrase.", "category": "default"},
        {"question_id": 7001, "image": "COCO_val2014_000000000007.jpg",
         "text": "How many dogs?\nAnswer the question using a single word or phrase.", "category": "default"},
    ]  # fmt: skip
    assert set(read_jsonl(out)[0]) == set(VQAV2_TEST_LINE)

    annotations = {"annotations": [
        {"question_id": 42000, "answer_type": "other", "answers": [{"answer": "red"}] * 10},
        {"question_id": 7001, "answer_type": "number", "answers": [{"answer": "2"}] * 4 + [{"answer": "3"}] * 6},
    ]}  # fmt: skip
    (tmp_path / "ann.json").write_text(json.dumps(annotations))
    answers = write_jsonl(tmp_path / "answers.jsonl", [{"question_id": 42000, "text": "Red"},
                                                       {"question_id": 7001, "text": "two"}])  # fmt: skip
    scores = eval_vqa.main(["--benchmark", "vqav2", "--question-file", str(out), "--annotation-file",
                            str(tmp_path / "ann.json"), "--result-file", str(answers)])  # fmt: skip
    # "Red" -> "red": 1.0. "two" -> "2": the 4 "2" humans see 3 matching others (1.0), the 6 "3" humans see 4
    # (min(1, 4/3) = 1.0): 1.0. Overall 100.
    assert scores["overall"] == 100.0


def test_vizwiz_val_file_and_limit(tmp_path: Path) -> None:
    official = [{"image": f"VizWiz_val_{i:08d}.jpg", "question": f"What is {i}?", "answers": []} for i in range(3)]
    (tmp_path / "val.json").write_text(json.dumps(official))
    out = build_vqa_val.main(["--benchmark", "vizwiz", "--questions", str(tmp_path / "val.json"),
                              "--out", str(tmp_path / "llava_val.jsonl"), "--limit", "2"])  # fmt: skip
    assert read_jsonl(out) == [
        {"question_id": i, "image": f"VizWiz_val_{i:08d}.jpg", "category": "default",
         "text": f"What is {i}?\nWhen the provided information is insufficient, respond with 'Unanswerable'.\n"
                 "Answer the question using a single word or phrase."}
        for i in range(2)
    ]  # fmt: skip


def test_bad_inputs_name_the_file(tmp_path: Path) -> None:
    out = str(tmp_path / "o.jsonl")
    with pytest.raises(FileNotFoundError, match="missing.json does not exist"):
        build_vqa_val.main(["--benchmark", "vqav2", "--questions", str(tmp_path / "missing.json"), "--out", out])
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="v2_OpenEnded_mscoco_val2014_questions.json"):
        build_vqa_val.main(["--benchmark", "vqav2", "--questions", str(tmp_path / "list.json"), "--out", out])
    (tmp_path / "broken.json").write_text('{"questions": [\n')
    with pytest.raises(ValueError, match=r"broken.json: not valid JSON \(line 2"):
        build_vqa_val.main(["--benchmark", "vqav2", "--questions", str(tmp_path / "broken.json"), "--out", out])
    no_suffix = write_jsonl(tmp_path / "t.jsonl", [{"question_id": 1, "image": "a.jpg", "text": "plain"}])
    with pytest.raises(ValueError, match="has no suffix line"):
        build_vqa_val.suffix_of(no_suffix)
