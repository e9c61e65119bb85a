"""TextVQA: EvalAI normalisation, leave-one-out soft accuracy, and LLaVA's prompt → question matching."""

import json
from pathlib import Path

import pytest

from llava.eval import eval_textvqa
from llava.eval.eval_textvqa import prompt_processor
from llava.eval.m4c_evaluator import EvalAIAnswerProcessor, TextVQAAccuracyEvaluator
from tests.eval.conftest import read_record, with_provenance, write_jsonl

OTHERS = ["pepsi"] * 8


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Coca Cola.", "coca cola"),
        ("Two", "2"),
        ("the red one", "red 1"),
        ("dont", "don't"),
        ("1,000", "1000"),
        ("3.5", "3.5"),
        ("hello-world", "hello world"),  # punctuation not touching a space becomes a space
        ("yes!", "yes"),
        ("Whats up?", "what's up"),
        ("line\nbreak", "line break"),
    ],
)
def test_evalai_normalisation(raw: str, normalised: str) -> None:
    assert EvalAIAnswerProcessor()(raw) == normalised


@pytest.mark.parametrize(
    ("matches", "expected"),
    [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)],  # mean over 10 subsets of min(1, matches/3)
)
def test_soft_accuracy_leave_one_out(matches: int, expected: float) -> None:
    gt = ["Coca Cola"] * matches + ["pepsi"] * (10 - matches)
    score = TextVQAAccuracyEvaluator().eval_pred_list([{"pred_answer": "coca cola.", "gt_answers": gt}])
    assert score == pytest.approx(expected)


def test_needs_ten_human_answers() -> None:
    with pytest.raises(ValueError, match="10 human answers"):
        TextVQAAccuracyEvaluator().eval_pred_list([{"pred_answer": "a", "gt_answers": ["a"] * 9}])


@pytest.mark.parametrize(
    ("prompt", "question"),
    [
        (
            "What brand?\nReference OCR token: coca, cola\nAnswer the question using a single word or phrase.",
            "what brand?",
        ),
        ("Reference OCR token: coca\nWhat brand?\nAnswer the question using a single word or phrase.", "what brand?"),
        ("What brand?\nAnswer the question using a single word or phrase.", "what brand?"),
        ("OCR tokens: coca Question: What brand? Short answer:", "what brand?"),
    ],
)
def test_prompt_processor_layouts(prompt: str, question: str) -> None:
    assert prompt_processor(prompt) == question


def test_result_file_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    annotations = {"data": [
        {"image_id": "img1", "question": "What brand is this?", "answers": ["Coca Cola", "coca cola", *OTHERS]},
        {"image_id": "img2", "question": "What number?", "answers": ["7"] * 10},
    ]}  # fmt: skip
    (tmp_path / "val.json").write_text(json.dumps(annotations))
    suffix = "\nReference OCR token: coca\nAnswer the question using a single word or phrase."
    results = write_jsonl(
        tmp_path / "answers.jsonl",
        with_provenance(
            [
                {
                    "question_id": "img1",
                    "prompt": "What brand is this?" + suffix,
                    "text": "Coca-Cola",
                },  # "coca cola": 0.6
                {"question_id": "img2", "prompt": "What number?" + suffix, "text": "seven"},  # "7": 1.0
            ],
            preset="llava-1.5:64",
        ),
    )
    record = tmp_path / "textvqa.json"
    accuracy = eval_textvqa.main(
        ["--annotation-file", str(tmp_path / "val.json"), "--result-file", str(results),
         "--run-record", str(record)]
    )  # fmt: skip
    assert accuracy == pytest.approx(80.0)
    assert "Samples: 2\nAccuracy: 80.00%" in capsys.readouterr().out
    assert read_record(record)["score"] == pytest.approx(80.0)
    assert (
        read_record(record)["run"] == "llava-v1.5-7b/llava-1.5-64" and read_record(record)["preset"] == "llava-1.5:64"
    )
