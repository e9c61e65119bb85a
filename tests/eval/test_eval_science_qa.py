"""ScienceQA: LLaVA's `eval_science_qa.py` rules, with expected results derived by hand from them.

LLaVA's parse (llava/eval/eval_science_qa.py): the raw text equal to a letter; else `text[0]` a letter and
`text[1:3] == ". "`; else `re.findall(r'The answer is ([A-Z]).', text)` with exactly one match; else FAILED.
"""

import json
from pathlib import Path

import pytest

from llava.eval import eval_science_qa
from llava.eval.answer_records import AnswersFileError
from llava.eval.eval_science_qa import FAILED, answer_index, parse_answer, parse_answer_lenient
from tests.eval.conftest import write_jsonl


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("A", "A"),
        (" B", FAILED),  # not stripped: " B" is not a letter, text[0] is a space, no "The answer is"
        ("B\n", FAILED),
        ("C. Because the magnet attracts.", "C"),
        ("C.Because", FAILED),  # text[1:3] is ".B", not ". "
        ("The answer is B.", "B"),
        ("The answer is B", FAILED),  # the regex needs one more character after the letter
        ("The answer is Bx", "B"),  # ... any character: "." is not escaped in LLaVA's regex
        ("The answer is C. The answer is C.", FAILED),  # two matches, LLaVA requires exactly one
        ("B\nOklahoma", FAILED),  # text[1:3] is "\nO"
        ("The answer is F.", "F"),  # [A-Z]: parsed, then out of the options (see answer_index)
        ("I am not sure.", FAILED),
        ("", FAILED),
        ("a", FAILED),
    ],
)
def test_parse_answer_is_llavas(text: str, letter: str) -> None:
    assert parse_answer(text) == letter


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("The answer is B", "B"),
        ("The answer is C. The answer is C.", "C"),
        ("B\nOklahoma", "B"),
        (" B ", "B"),
        ("The answer is A. The answer is B.", FAILED),  # two different letters
    ],
)
def test_lenient_parse_is_opt_in(text: str, letter: str) -> None:
    assert parse_answer_lenient(text) == letter


def test_answer_index_respects_the_number_of_choices() -> None:
    assert answer_index("B", 3) == 1
    assert answer_index("D", 3) == -1
    assert answer_index("F", 5) == -1
    assert answer_index(FAILED, 5) == -1


IMAGE = "<image>\nQuestion?\nAnswer with the option's letter from the given choices directly."
TEXT_ONLY = "Question?\nAnswer with the option's letter from the given choices directly."
# (problem id, answer index, prompt, generated text); p5 has no answer.
CASES = [
    ("p0", 1, IMAGE, "The answer is B"),  # FAILED: wrong
    ("p1", 2, IMAGE, "The answer is C. The answer is C."),  # FAILED: wrong
    ("p2", 1, TEXT_ONLY, "B\nOklahoma"),  # FAILED: wrong
    ("p3", 0, IMAGE, "A"),  # right
    ("p4", 1, IMAGE, "The answer is Bx"),  # B: right
    ("p5", 0, IMAGE, None),  # missing: FAILED with prompt "Unknown", outside the image subset
]


def _sqa_files(tmp_path: Path) -> Path:
    problems = {pid: {"choices": ["x", "y", "z"], "answer": answer} for pid, answer, _, _ in CASES}
    problems["v0"] = {"choices": ["x", "y"], "answer": 0}
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    (tmp_path / "pid_splits.json").write_text(json.dumps({"test": [c[0] for c in CASES], "val": ["v0"]}))
    records = [{"question_id": pid, "prompt": prompt, "text": text} for pid, _, prompt, text in CASES if text]
    return write_jsonl(tmp_path / "answers.jsonl", records)


def test_accuracy_img_accuracy_and_output_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _sqa_files(tmp_path)
    result = eval_science_qa.main(
        ["--base-dir", str(tmp_path), "--result-file", str(results), "--output-file", str(tmp_path / "out.json"),
         "--output-result", str(tmp_path / "result.json")]
    )  # fmt: skip
    # correct: p3, p4 of 6 → 2 / 6 * 100; image subset: p0, p1, p3, p4 (p5's prompt is "Unknown") → 2 / 4 * 100
    assert result.accuracy == 2 / 6 * 100
    assert result.img_accuracy == 2 / 4 * 100
    assert capsys.readouterr().out == "Total: 6, Correct: 2, Accuracy: 33.33%, IMG-Accuracy: 50.00%\n"
    summary = json.loads((tmp_path / "result.json").read_text())
    assert list(summary) == ["acc", "correct", "count", "results", "outputs"]
    assert summary["acc"] == 2 / 6 * 100 and summary["correct"] == 2 and summary["count"] == 6
    assert summary["results"] == {"p0": -1, "p1": -1, "p2": -1, "p3": 0, "p4": 1, "p5": -1}
    # the raw text, newline included; the missing answer is "FAILED"
    assert summary["outputs"]["p2"] == "B\nOklahoma" and summary["outputs"]["p5"] == FAILED
    analyses = json.loads((tmp_path / "out.json").read_text())
    assert [a["question_id"] for a in analyses["correct"]] == ["p3", "p4"]
    assert analyses["incorrect"][0] == {
        "question_id": "p0", "parsed_ans": FAILED, "ground_truth": "B", "question": IMAGE,
        "pred": "The answer is B", "is_multimodal": True,
    }  # fmt: skip
    assert analyses["incorrect"][-1]["question"] == "Unknown" and not analyses["incorrect"][-1]["is_multimodal"]
    # byte layout of LLaVA's json.dump(..., indent=2)
    assert (tmp_path / "out.json").read_text().startswith('{\n  "correct": [\n    {\n      "question_id": "p3",')


def test_lenient_parse_is_labelled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _sqa_files(tmp_path)
    result = eval_science_qa.main(
        ["--base-dir", str(tmp_path), "--result-file", str(results), "--output-result", str(tmp_path / "r.json"),
         "--lenient-parse"]
    )  # fmt: skip
    # lenient: p0 → B, p1 → C, p2 → B also right: 5 / 6; image subset p0, p1, p3, p4 all right: 4 / 4
    assert result.accuracy == 5 / 6 * 100 and result.img_accuracy == 100.0
    out = capsys.readouterr().out
    assert "NOT LLaVA's eval_science_qa.py rule" in out and "Accuracy: 83.33%, IMG-Accuracy: 100.00%" in out
    assert "NOT LLaVA" in json.loads((tmp_path / "r.json").read_text())["parse"]


def test_run_record(tmp_path: Path) -> None:
    results = _sqa_files(tmp_path)
    metadata = {"duet": None, "duet_preset": "full", "query_path": "none", "temporal_attention": None,
                "visual_tokens": {"layer_averaged": 576.0, "llm_input": 576}}  # fmt: skip
    records = [{**json.loads(line), "model_id": "llava-v1.5-7b", "metadata": metadata}
               for line in results.read_text().splitlines()]  # fmt: skip
    write_jsonl(results, records)
    eval_science_qa.main(["--base-dir", str(tmp_path), "--result-file", str(results), "--run-record",
                          str(tmp_path / "runs" / "sqa.json")])  # fmt: skip
    record = json.loads((tmp_path / "runs" / "sqa.json").read_text())
    assert record["run"] == "llava-v1.5-7b/full" and record["benchmark"] == "sqa" and record["score"] == 50.0
    assert record["tokens"] == {"layer_averaged": 576.0, "llm_input": 576} and record["preset"] == "full"


def test_bad_answers_files(tmp_path: Path) -> None:
    results = _sqa_files(tmp_path)
    base = ["--base-dir", str(tmp_path), "--result-file", str(results)]
    text = results.read_text()
    results.write_text(text + json.dumps({"question_id": "v0", "prompt": IMAGE, "text": "A"}) + "\n")
    with pytest.raises(AnswersFileError, match="questions that the 'test' split .* does not have .*'v0'"):
        eval_science_qa.main(base)
    results.write_text(text + json.dumps({"question_id": "p3", "prompt": IMAGE, "text": "B"}) + "\n")
    with pytest.raises(AnswersFileError, match="'p3' is answered more than once"):
        eval_science_qa.main(base)
    results.write_text(text.replace('"text": "A"}', '"text": "A"'))
    with pytest.raises(AnswersFileError, match=r"answers.jsonl:4 is not valid JSON"):
        eval_science_qa.main(base)
    (tmp_path / "problems.json").unlink()
    with pytest.raises(FileNotFoundError, match="problems.json is missing"):
        eval_science_qa.main(base)
