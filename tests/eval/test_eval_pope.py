"""POPE: LLaVA's yes/no parsing and per-category metrics on hand-counted answers."""

from pathlib import Path

import pytest

from llava.eval import eval_pope
from llava.eval.eval_pope import PopeMetrics, parse_yes_no
from tests.eval.conftest import read_record, with_provenance, write_jsonl


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("Yes, there is a dog.", "yes"),
        ("No", "no"),
        ("no, it is not", "no"),
        ("There is no dog in the image.", "no"),
        ("The dog is not visible", "no"),
        ("Yes. No dog though.", "yes"),  # only the first sentence counts
        ("Nope", "yes"),  # a whole word must match
        ("Not really", "yes"),  # LLaVA's word list has "No", "not", "no" but not "Not"
        ("", "yes"),
    ],
)
def test_parse_yes_no_follows_llava(text: str, parsed: str) -> None:
    assert parse_yes_no(text) == parsed


def test_metrics_by_hand() -> None:
    metrics = PopeMetrics(tp=3, fp=1, tn=4, fn=2)
    assert metrics.accuracy == pytest.approx(7 / 10)
    assert metrics.precision == pytest.approx(3 / 4)
    assert metrics.recall == pytest.approx(3 / 5)
    assert metrics.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)  # 0.6667
    assert metrics.yes_ratio == pytest.approx(4 / 10)
    assert PopeMetrics(tp=0, fp=0, tn=2, fn=2).f1 == 0.0  # no "yes" at all: LLaVA would divide by zero


def _pope_files(root: Path) -> tuple[Path, Path, list[dict]]:
    """Two categories; labels in annotation files, questions (with category) and answers in LLaVA's files."""
    rows = {
        # adversarial: TP, FN, TN, FP -> P = R = F1 = acc = 0.5
        "adversarial": [("yes", "Yes, there is a dog."), ("yes", "No. It is a cat."), ("no", "There is not a cat."), ("no", "yes")],
        # random: TP, TN, TP -> everything 1.0; yes ratio 2/3
        "random": [("yes", "Yes"), ("no", "no."), ("yes", "I think so. No doubt.")],
    }  # fmt: skip
    questions, answers = [], []
    for category, items in rows.items():
        labels = []
        for i, (label, text) in enumerate(items):
            qid = len(questions)
            image = f"COCO_val2014_{category}_{i}.jpg"
            questions.append({"question_id": qid, "image": image, "text": "Is there a dog?", "category": category})
            answers.append({"question_id": qid, "prompt": "Is there a dog?", "text": text})
            labels.append({"question_id": i + 1, "image": image, "text": "Is there a dog?", "label": label})
        write_jsonl(root / "coco" / f"coco_pope_{category}.json", labels)
    return root / "coco", write_jsonl(root / "questions.jsonl", questions), answers


def test_categories_and_average_f1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    annotation_dir, question_file, answers = _pope_files(tmp_path)
    results = write_jsonl(tmp_path / "answers.jsonl", with_provenance(answers[::-1]))  # order does not matter
    record = tmp_path / "runs" / "pope.json"
    f1 = eval_pope.main(
        ["--annotation-dir", str(annotation_dir), "--question-file", str(question_file), "--result-file", str(results),
         "--run-record", str(record)]
    )  # fmt: skip
    assert f1 == pytest.approx(0.75)
    assert read_record(record)["score"] == pytest.approx(75.0) and read_record(record)["run"] == "llava-v1.5-7b/full"
    out = capsys.readouterr().out
    assert "Category: adversarial, # samples: 4" in out and "1\t1\t1\t1" in out
    assert "0.500, 0.500, 0.500, 0.500, 0.500" in out
    assert "1.000, 1.000, 1.000, 1.000, 0.667" in out
    assert "Average F1 over 2 categories: 0.7500" in out


def test_missing_answer_is_an_error(tmp_path: Path) -> None:
    annotation_dir, question_file, answers = _pope_files(tmp_path)
    results = write_jsonl(tmp_path / "answers.jsonl", answers[1:])
    with pytest.raises(ValueError, match="1 'adversarial' questions have no answer"):
        eval_pope.main(
            [
                "--annotation-dir",
                str(annotation_dir),
                "--question-file",
                str(question_file),
                "--result-file",
                str(results),
            ]
        )


def test_misordered_annotation_is_an_error(tmp_path: Path) -> None:
    annotation_dir, question_file, answers = _pope_files(tmp_path)
    labels = (annotation_dir / "coco_pope_random.json").read_text().splitlines()
    (annotation_dir / "coco_pope_random.json").write_text("\n".join(labels[::-1]) + "\n")
    results = write_jsonl(tmp_path / "answers.jsonl", answers)
    with pytest.raises(ValueError, match="not in the same order"):
        eval_pope.main(
            [
                "--annotation-dir",
                str(annotation_dir),
                "--question-file",
                str(question_file),
                "--result-file",
                str(results),
            ]
        )
