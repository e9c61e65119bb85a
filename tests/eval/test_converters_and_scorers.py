"""VQAv2 / VizWiz / SEED / MM-Vet converters, VQA accuracy and MMBench circular accuracy, derived by hand."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from llava.eval import eval_mmbench, eval_vqa
from llava.eval.answer_records import AnswersFileError
from tests.eval.conftest import read_jsonl, read_record, with_provenance, write_jsonl

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script(name: str) -> ModuleType:
    """Import a `scripts/*.py` converter (they are run as `python scripts/x.py`, not installed as modules)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def answers(rows: list[tuple[object, str]]) -> list[dict]:
    return with_provenance([{"question_id": qid, "prompt": "?", "text": text} for qid, text in rows])


def test_vqav2_submission(tmp_path: Path) -> None:
    convert = script("convert_vqav2_for_submission")
    write_jsonl(
        tmp_path / "llava_vqav2_mscoco_test2015.jsonl",
        [{"question_id": i, "image": "x", "text": "?"} for i in (1, 2, 3)],
    )
    src = write_jsonl(tmp_path / "answers" / "dev" / "ckpt" / "merge.jsonl", answers([(1, "Two."), (2, "A Dog")]))
    dst = convert.main(["--dir", str(tmp_path), "--split", "dev", "--ckpt", "ckpt"])
    assert dst == tmp_path / "answers_upload" / "dev" / "ckpt.json"
    # EvalAI's processor: "Two." → "2", "A Dog" → "dog"; question 3 (outside test-dev) → ""
    assert json.loads(dst.read_text()) == [{"question_id": 1, "answer": "2"}, {"question_id": 2, "answer": "dog"},
                                           {"question_id": 3, "answer": ""}]  # fmt: skip
    src.write_text(src.read_text() + "{broken\n")
    with pytest.raises(AnswersFileError, match=r"merge.jsonl:3 is not valid JSON"):
        convert.main(["--dir", str(tmp_path), "--split", "dev", "--ckpt", "ckpt"])
    write_jsonl(src, answers([(1, "x"), (9, "y")]))
    with pytest.raises(AnswersFileError, match="9"):
        convert.main(["--dir", str(tmp_path), "--split", "dev", "--ckpt", "ckpt"])


def test_vizwiz_submission(tmp_path: Path) -> None:
    convert = script("convert_vizwiz_for_submission")
    questions = write_jsonl(tmp_path / "llava_test.jsonl", [{"question_id": 0, "image": "VizWiz_test_0.jpg", "text": "?"},
                                                            {"question_id": 1, "image": "VizWiz_test_1.jpg", "text": "?"}])  # fmt: skip
    result = write_jsonl(tmp_path / "answers.jsonl", answers([(1, "Unanswerable"), (0, "Coca-Cola")]))
    upload = convert.main(["--annotation-file", str(questions), "--result-file", str(result),
                           "--result-upload-file", str(tmp_path / "up" / "x.json")])  # fmt: skip
    assert json.loads(upload.read_text()) == [{"image": "VizWiz_test_0.jpg", "answer": "coca cola"},
                                              {"image": "VizWiz_test_1.jpg", "answer": "unanswerable"}]  # fmt: skip
    write_jsonl(result, answers([(1, "x")]))
    with pytest.raises(AnswersFileError, match="1 VizWiz question"):
        convert.main(["--annotation-file", str(questions), "--result-file", str(result),
                      "--result-upload-file", str(tmp_path / "up" / "x.json")])  # fmt: skip


def test_mmvet_result_file(tmp_path: Path) -> None:
    convert = script("convert_mmvet_for_eval")
    src = write_jsonl(tmp_path / "answers.jsonl", answers([(0, "a cat"), (12, "42")]))
    dst = convert.main(["--src", str(src), "--dst", str(tmp_path / "results" / "m.json")])
    assert dst.read_text() == json.dumps({"v1_0": "a cat", "v1_12": "42"}, indent=2)
    write_jsonl(src, answers([(0, "a"), (0, "b")]))
    with pytest.raises(AnswersFileError, match="answered more than once"):
        convert.main(["--src", str(src), "--dst", str(tmp_path / "m.json")])


def _seed(tmp_path: Path) -> Path:
    data = {
        "question_type": {"Scene Understanding": 1, "Instance Identity": 2},
        "questions": [
            {"question_id": "101", "question_type_id": 1, "data_type": "image", "answer": "A"},
            {"question_id": "102", "question_type_id": 1, "data_type": "image", "answer": "B"},
            {"question_id": "v7", "question_type_id": 2, "data_type": "video", "answer": "C"},
            {"question_id": "104", "question_type_id": 2, "data_type": "image", "answer": "D"},
        ],
    }
    (tmp_path / "SEED-Bench.json").write_text(json.dumps(data))
    return tmp_path / "SEED-Bench.json"


def test_seed_accuracy_and_upload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    convert = script("convert_seed_for_submission")
    annotation = _seed(tmp_path)
    # 101 right; 102 "B." is not "B": wrong (exact match); v7 right; 104 right (int id 104 matches "104")
    result = write_jsonl(tmp_path / "merge.jsonl", answers([(101, "A"), (102, "B."), ("v7", "C"), (104, "D")]))
    args = ["--annotation-file", str(annotation), "--result-file", str(result), "--result-upload-file",
            str(tmp_path / "up.jsonl"), "--run-record", str(tmp_path / "seed.json")]  # fmt: skip
    summary = convert.main(args)
    # type 1: 1/2 → 50.00; type 2: 2/2 → 100.00; total 3/4; image 101, 102, 104 → 2/3; video v7 → 1/1
    assert capsys.readouterr().out == (
        "Scene Understanding: 50.00%\nInstance Identity: 100.00%\nTotal accuracy: 75.00%\n"
        "image accuracy: 66.67%\nvideo accuracy: 100.00%\n"
    )
    assert summary == {"total": 75.0, "image": 2 / 3 * 100, "video": 100.0}
    assert read_jsonl(tmp_path / "up.jsonl")[1] == {"question_id": "102", "prediction": "B."}
    assert read_record(tmp_path / "seed.json")["score"] == 75.0
    write_jsonl(result, answers([(101, "A"), (102, "B")]))
    with pytest.raises(AnswersFileError, match="2 SEED question"):
        convert.main(args)


def test_vqa_accuracy_official_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    annotations = {"annotations": [
        {"question_id": 1, "answer_type": "number", "answers": [{"answer": "2", "answer_id": i} for i in range(10)]},
        {"question_id": 2, "answer_type": "yes/no",
         "answers": [{"answer": "yes"}] * 2 + [{"answer": "no"}] * 8},
        {"question_id": 3, "answer_type": "other", "answers": [{"answer": "red"}] * 3 + [{"answer": "dark red"}] * 7},
    ]}  # fmt: skip
    (tmp_path / "ann.json").write_text(json.dumps(annotations))
    questions = write_jsonl(
        tmp_path / "q.jsonl", [{"question_id": i, "image": f"{i}.jpg", "text": "?"} for i in (1, 2, 3)]
    )
    result = write_jsonl(tmp_path / "a.jsonl", answers([(1, "Two"), (2, "Yes."), (3, "blue")]))
    scores = eval_vqa.main(["--benchmark", "vqav2", "--question-file", str(questions), "--annotation-file",
                            str(tmp_path / "ann.json"), "--result-file", str(result)])  # fmt: skip
    # Q1: "Two" → "2", each human's 9 others all match: 1.0. Q2: "yes" matches 1 of the others for the 2 "yes"
    # humans (1/3) and 2 for the 8 "no" humans (2/3): (2/3 + 16/3) / 10 = 0.6. Q3: 0. Overall (1 + 0.6 + 0) / 3.
    assert scores == pytest.approx({"overall": 160 / 3, "type_number": 100.0, "type_other": 0.0, "type_yes/no": 60.0})
    assert capsys.readouterr().out.startswith("Overall Accuracy is: 53.33\n")


def test_vqa_accuracy_quirk_and_vizwiz(tmp_path: Path) -> None:
    # identical human answers are NOT normalised: "2 dogs." never equals the processed "2 dogs"
    assert eval_vqa.question_accuracy("2 dogs", ["2 dogs."] * 10) == 0.0
    assert eval_vqa.question_accuracy("2 dogs", ["2 dogs."] * 9 + ["two dogs"]) == pytest.approx(1.0)
    (tmp_path / "val.json").write_text(json.dumps([{"image": "VizWiz_val_0.jpg", "answer_type": "unanswerable",
                                                    "answers": [{"answer": "unanswerable"}] * 10}]))  # fmt: skip
    questions = write_jsonl(tmp_path / "q.jsonl", [{"question_id": 0, "image": "VizWiz_val_0.jpg", "text": "?"}])
    result = write_jsonl(tmp_path / "a.jsonl", answers([(0, "Unanswerable")]))
    args = ["--benchmark", "vizwiz", "--question-file", str(questions), "--annotation-file", str(tmp_path / "val.json"),
            "--result-file", str(result), "--run-record", str(tmp_path / "vizwiz.json")]  # fmt: skip
    assert eval_vqa.main(args)["overall"] == 100.0
    assert read_record(tmp_path / "vizwiz.json")["benchmark"] == "vizwiz"
    (tmp_path / "val.json").unlink()
    with pytest.raises(FileNotFoundError, match="val.json does not exist"):
        eval_vqa.main(args)


MMB_HEADER = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\tl2-category\tsplit\timage"


def _tsv(tmp_path: Path, rows: list[str]) -> Path:
    (tmp_path / "mmb.tsv").write_text(MMB_HEADER + "\n" + "\n".join(rows) + "\n")
    return tmp_path / "mmb.tsv"


def test_mmbench_circular_over_tsv_copies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tsv = _tsv(tmp_path, [
        "1\tWhat animal?\tnan\tcat\tdog\tnan\tnan\tA\tx\tL1\tdev\timg",
        "1000001\tWhat animal?\tnan\tdog\tcat\tnan\tnan\tB\tx\tL1\tdev\timg",
        "2\tWhich colour?\tnan\tred\tblue\tgreen\tnan\tC\ty\tL1\tdev\timg",
        "1000002\tWhich colour?\tnan\tblue\tgreen\tred\tnan\tB\ty\tL1\tdev\timg",
        "2000002\tWhich colour?\tnan\tgreen\tred\tblue\tnan\tA\ty\tL1\tdev\timg",
    ])  # fmt: skip
    result = write_jsonl(tmp_path / "a.jsonl", answers([
        (1, "A"),  # right
        (1000001, "B"),  # right → question 1 right under both rotations
        (2, "The answer is C."),  # "C." (the ("", ".") form) → right
        (1000002, "green"),  # no letter; the option text "green" is option B → right
        (2000002, "I think it is red"),  # "red" is option B, the answer is A → wrong → question 2 wrong
    ]))  # fmt: skip
    result_records = read_jsonl(result)
    for record in result_records:
        record["round_id"] = 0
    write_jsonl(result, result_records)
    scores = eval_mmbench.main(["--annotation-file", str(tsv), "--result-file", str(result)])
    assert scores["vanilla"] == 100.0 and scores["circular"] == 50.0 and scores["unreadable"] == 0
    assert scores["category/x"] == 100.0 and scores["category/y"] == 0.0 and scores["l2-category/L1"] == 50.0
    assert "Circular accuracy: 50.00%" in capsys.readouterr().out


def test_mmbench_circular_over_generator_rounds(tmp_path: Path) -> None:
    tsv = _tsv(tmp_path, ["3\tSky at night?\tnan\tsun\tmoon\tnan\tnan\tB\tz\tL2\tdev\timg"])
    rounds = [
        {"question_id": 3, "round_id": 0, "options": ["sun", "moon"], "option_char": ["A", "B"], "text": "B"},
        # round 1 shows [moon, sun]: the right letter is now A; "B" is wrong
        {"question_id": 3, "round_id": 1, "options": ["moon", "sun"], "option_char": ["B", "A"], "text": "B"},
    ]
    result = write_jsonl(tmp_path / "a.jsonl", with_provenance([{**r, "prompt": "?"} for r in rounds]))
    scores = eval_mmbench.main(["--annotation-file", str(tsv), "--result-file", str(result),
                                "--run-record", str(tmp_path / "mmb.json")])  # fmt: skip
    assert scores["vanilla"] == 100.0 and scores["circular"] == 0.0 and scores["instances"] == 2
    assert read_record(tmp_path / "mmb.json")["score"] == 0.0


@pytest.mark.parametrize(
    ("text", "letter"),
    [("B", "B"), ("B.", "B"), ("(C)", "C"), ("The answer is A. Because", "A"), ("A cat sits on a mat", None),
     ("A or B", None), ("Answer: D", "D"), (":C,", "C")],
)  # fmt: skip
def test_mmbench_letter_rule(text: str, letter: str | None) -> None:
    assert eval_mmbench.can_infer_option(text) == letter


def test_mmbench_bad_answers(tmp_path: Path) -> None:
    tsv = _tsv(tmp_path, ["1\tQ?\tnan\tcat\tdog\tnan\tnan\tA\tx\tL\tdev\timg",
                          "2\tQ?\tnan\tcat\tdog\tnan\tnan\tA\tx\tL\tdev\timg"])  # fmt: skip
    result = write_jsonl(tmp_path / "a.jsonl", answers([(1, "A")]))
    with pytest.raises(AnswersFileError, match="1 TSV row"):
        eval_mmbench.main(["--annotation-file", str(tsv), "--result-file", str(result)])
    write_jsonl(result, answers([(1, "A"), (2, "A"), (7, "B")]))
    with pytest.raises(AnswersFileError, match="7"):
        eval_mmbench.main(["--annotation-file", str(tsv), "--result-file", str(result)])
