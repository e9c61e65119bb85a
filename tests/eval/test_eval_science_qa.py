"""ScienceQA: LLaVA's answer parsing, Accuracy and IMG-Accuracy on a hand-scored split."""

import json
from pathlib import Path

import pytest

from llava.eval import eval_science_qa
from llava.eval.eval_science_qa import FAILED, answer_index, parse_answer
from tests.eval.conftest import write_jsonl


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("A", "A"),
        (" B ", "B"),
        (" B \n", FAILED),  # the newline becomes ". ": " B . " is no letter form LLaVA reads
        ("C. Because the magnet attracts.", "C"),
        ("The answer is B.", "B"),
        ("Let me think. The answer is D", "D"),
        ("A\nBecause of gravity.", "A"),  # the newline reads as ". "
        ("I am not sure.", FAILED),
        ("", FAILED),
        ("a", FAILED),
    ],
)
def test_parse_answer(text: str, letter: str) -> None:
    assert parse_answer(text) == letter


def test_answer_index_respects_the_number_of_choices() -> None:
    assert answer_index("B", 3) == 1
    assert answer_index("D", 3) == -1
    assert answer_index(FAILED, 5) == -1


def test_accuracy_and_img_accuracy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    problems = {str(i): {"choices": ["x", "y", "z"], "answer": answer} for i, answer in enumerate([0, 1, 0, 2, 1])}
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    (tmp_path / "pid_splits.json").write_text(json.dumps({"test": ["0", "1", "2", "3"], "val": ["4"]}))
    image = "<image>\nQuestion?\nAnswer with the option's letter from the given choices directly."
    text_only = "Question?\nAnswer with the option's letter from the given choices directly."
    results = write_jsonl(
        tmp_path / "answers.jsonl",
        [
            {"question_id": "0", "prompt": image, "text": "A"},  # image, correct
            {"question_id": "1", "prompt": text_only, "text": "The answer is B."},  # text-only, correct
            {"question_id": "2", "prompt": image, "text": "garbage"},  # image, FAILED
            {"question_id": "3", "prompt": image, "text": "D"},  # image, past the 3 choices
            {"question_id": "4", "prompt": image, "text": "B"},  # other split: ignored
        ],
    )
    scores = tmp_path / "scores.json"
    result = eval_science_qa.main(
        ["--base-dir", str(tmp_path), "--result-file", str(results), "--output-file", str(tmp_path / "out.json"),
         "--output-result", str(tmp_path / "result.json"), "--scores-file", str(scores), "--method", "full"]
    )  # fmt: skip
    assert result.accuracy == pytest.approx(50.0)
    assert result.img_accuracy == pytest.approx(100 / 3)
    assert "Total: 4, Correct: 2, Accuracy: 50.00%, IMG-Accuracy: 33.33%" in capsys.readouterr().out
    assert json.loads((tmp_path / "result.json").read_text())["results"] == {"0": 0, "1": 1, "2": -1, "3": -1}
    assert json.loads(scores.read_text())["full"]["sqa"] == pytest.approx(100 / 3)
