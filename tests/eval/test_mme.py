"""MME: the answer converter against a release-shaped ground-truth folder, and the official scoring rules."""

from pathlib import Path

import pytest

from llava.eval import convert_answer_to_mme, mme_score
from llava.eval.mme_score import EVAL_TYPES, parse_pred_ans, score_task
from tests.eval.conftest import read_record, with_provenance, write_jsonl

SUFFIX = "\nAnswer the question using a single word or phrase."


def _ground_truth(root: Path) -> Path:
    """`existence` is flat (images and .txt side by side); `artwork` has images/ and questions_answers_YN/."""
    gt = root / "MME_Benchmark_release_version"
    (gt / "existence").mkdir(parents=True)
    (gt / "existence" / "000001.txt").write_text(
        "Is there a dog in this image? Please answer yes or no.\tYes\nIs there a cat in this image? Please answer yes or no.\tNo\n"
    )
    (gt / "artwork" / "images").mkdir(parents=True)
    (gt / "artwork" / "questions_answers_YN").mkdir()
    # MME has a few questions with a double space before "Please answer yes or no."
    (gt / "artwork" / "questions_answers_YN" / "10002.txt").write_text(
        "Is this painted by Monet?  Please answer yes or no.\tNo\nIs this painted by Goya? Please answer yes or no.\tYes\n"
    )
    return gt


def test_convert_answers(tmp_path: Path) -> None:
    _ground_truth(tmp_path)
    write_jsonl(
        tmp_path / "answers" / "exp.jsonl",
        [
            {"question_id": "existence/000001.jpg", "prompt": "Is there a dog in this image?" + SUFFIX, "text": "Yes"},
            {
                "question_id": "existence/000001.jpg",
                "prompt": "Is there a cat in this image?" + SUFFIX,
                "text": "Yes\tand\nno",
            },
            {"question_id": "artwork/images/10002.jpg", "prompt": "Is this painted by Monet?" + SUFFIX, "text": "No"},
            {
                "question_id": "artwork/images/10002.jpg",
                "prompt": "Is this painted by Goya? Please answer yes or no.",
                "text": "No",
            },
        ],
    )
    out = convert_answer_to_mme.main(["--experiment", "exp", "--data-dir", str(tmp_path)])
    assert out == tmp_path / "eval_tool" / "answers" / "exp"
    assert (out / "existence.txt").read_text().splitlines() == [
        "000001.txt\tIs there a dog in this image? Please answer yes or no.\tYes\tYes",
        "000001.txt\tIs there a cat in this image? Please answer yes or no.\tNo\tYes and no",
    ]
    assert (out / "artwork.txt").read_text().splitlines() == [
        "10002.txt\tIs this painted by Monet?  Please answer yes or no.\tNo\tNo",
        "10002.txt\tIs this painted by Goya? Please answer yes or no.\tYes\tNo",
    ]


def test_unknown_question_is_an_error(tmp_path: Path) -> None:
    _ground_truth(tmp_path)
    write_jsonl(
        tmp_path / "answers" / "exp.jsonl", [{"question_id": "existence/000001.jpg", "prompt": "Is it?", "text": "Yes"}]
    )
    with pytest.raises(KeyError, match="no MME ground truth for existence/000001.txt"):
        convert_answer_to_mme.main(["--experiment", "exp", "--data-dir", str(tmp_path)])


@pytest.mark.parametrize(
    ("answer", "label"),
    [("yes", "yes"), ("no", "no"), ("yes, it is", "yes"), ("not sure", "no"), ("i think yes", "other"), ("", "other")],
)
def test_parse_pred_ans(answer: str, label: str) -> None:
    assert parse_pred_ans(answer) == label


def _line(truth: str, answer: str) -> str:
    return f"1.txt\tQuestion? Please answer yes or no.\t{truth}\t{answer}"


def test_task_score_acc_and_acc_plus() -> None:
    # image 1: both right; image 2: one right; image 3: none right ("Maybe" is "other")
    lines = [_line("Yes", "Yes"), _line("No", "No, it is not"), _line("Yes", "No"), _line("No", "no"),
             _line("Yes", "Maybe"), _line("No", "Yes")]  # fmt: skip
    task = score_task(lines)
    assert task.acc == pytest.approx(3 / 6)
    assert task.acc_plus == pytest.approx(1 / 3)
    assert task.score == pytest.approx(50 + 100 / 3)


def test_totals_over_all_subtasks(tmp_path: Path) -> None:
    perfect = [_line("Yes", "Yes"), _line("No", "No")]  # 200
    half = [_line("Yes", "Yes"), _line("No", "Yes")]  # acc 0.5, acc+ 0 -> 50
    for task in EVAL_TYPES["Perception"]:
        (tmp_path / f"{task}.txt").write_text("\n".join(perfect if task == "existence" else half) + "\n")
    for task in EVAL_TYPES["Cognition"]:
        (tmp_path / f"{task}.txt").write_text("\n".join(perfect if task == "code_reasoning" else half) + "\n")
    answers = write_jsonl(
        tmp_path / "answers" / "a.jsonl", with_provenance([{"question_id": "x", "prompt": "?", "text": "Yes"}])
    )
    record = tmp_path / "mme.json"
    summary = mme_score.main(
        ["--results_dir", str(tmp_path), "--answers-file", str(answers), "--run-record", str(record)]
    )
    assert summary == pytest.approx({"Perception": 200 + 9 * 50, "Cognition": 200 + 3 * 50, "Total": 650 + 350})
    assert read_record(record)["score"] == pytest.approx(1000)
    assert read_record(record)["metrics"] == pytest.approx({"perception": 650, "cognition": 350, "total": 1000})


def test_missing_subtask_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "existence.txt").write_text(_line("Yes", "Yes") + "\n")
    with pytest.raises(FileNotFoundError, match="count.txt"):
        mme_score.score_results(tmp_path)
