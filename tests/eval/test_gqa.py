"""GQA: LLaVA's prediction conversion and exact-match accuracy over balanced questions."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llava.eval import eval_gqa
from tests.eval.conftest import read_record, with_provenance, write_jsonl

REPO = Path(__file__).resolve().parents[2]


def test_convert_and_score(tmp_path: Path) -> None:
    answers = write_jsonl(
        tmp_path / "merge.jsonl",
        [
            {"question_id": "1", "text": "Yes."},
            {"question_id": "2", "text": "Chair"},
            {"question_id": "3", "text": "Left.."},
            {"question_id": "4", "text": "no"},
        ],
    )
    predictions = tmp_path / "predictions.json"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts/convert_gqa_for_eval.py"),
            "--src",
            str(answers),
            "--dst",
            str(predictions),
        ],
        check=True,
    )
    assert json.loads(predictions.read_text()) == [
        {"questionId": "1", "prediction": "yes"},
        {"questionId": "2", "prediction": "chair"},
        {"questionId": "3", "prediction": "left"},
        {"questionId": "4", "prediction": "no"},
    ]
    questions = {
        "1": {"answer": "yes", "isBalanced": True, "types": {"structural": "verify"}},
        "2": {"answer": "table", "isBalanced": True, "types": {"structural": "query"}},
        "3": {"answer": "left", "isBalanced": True, "types": {"structural": "choose"}},
        "4": {"answer": "yes", "isBalanced": False, "types": {"structural": "verify"}},  # not balanced: ignored
    }
    (tmp_path / "questions.json").write_text(json.dumps(questions))
    answers = write_jsonl(
        tmp_path / "merge.jsonl", with_provenance([{"question_id": "1", "prompt": "?", "text": "yes"}])
    )
    record = tmp_path / "gqa.json"
    result = eval_gqa.main(
        ["--predictions", str(predictions), "--questions", str(tmp_path / "questions.json"),
         "--answers-file", str(answers), "--run-record", str(record)]
    )  # fmt: skip
    assert result == pytest.approx({"accuracy": 200 / 3, "binary": 100.0, "open": 0.0})
    assert read_record(record)["score"] == pytest.approx(200 / 3)


def test_missing_prediction_is_an_error() -> None:
    questions = {"1": {"answer": "yes", "isBalanced": True, "types": {"structural": "verify"}}}
    with pytest.raises(ValueError, match="1 balanced questions have no prediction"):
        eval_gqa.accuracy(questions, {})
