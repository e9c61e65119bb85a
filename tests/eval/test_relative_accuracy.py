"""The paper's relative accuracy, checked against the VisionZip rows it reproduces (paper.md §3.1)."""

import json
from pathlib import Path

import pytest

from llava.eval import relative_accuracy
from llava.eval.relative_accuracy import budget_label, relative_rows
from llava.eval.scores_file import record_score

# LLaVA-1.5-7B baseline and VisionZip's own numbers, as quoted in paper.md §3.1 (GQA, MME, POPE, SQA, TextVQA).
BASELINE = {"gqa": 61.9, "mme": 1862, "pope": 85.9, "sqa": 69.5, "textvqa": 58.2}
VISIONZIP = {
    "visionzip:192": ({"gqa": 59.3, "mme": 1782.6, "pope": 85.3, "sqa": 68.9, "textvqa": 57.3}, 97.7),
    "visionzip:128": ({"gqa": 57.6, "mme": 1761.7, "pope": 83.2, "sqa": 68.9, "textvqa": 56.8}, 96.3),
    "visionzip:64": ({"gqa": 55.1, "mme": 1690, "pope": 77.0, "sqa": 69.0, "textvqa": 55.5}, 92.8),
}


def test_reproduces_the_published_visionzip_averages() -> None:
    scores = {"full": BASELINE, **{name: row for name, (row, _) in VISIONZIP.items()}}
    rows = {row.method: row for row in relative_rows(scores, "full")}
    assert rows["full"].average == pytest.approx(100.0)
    for name, (_, published) in VISIONZIP.items():
        assert round(rows[name].average, 1) == published


def test_hand_computed_row_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = tmp_path / "scores.json"
    for benchmark, full, compressed in [
        ("gqa", 60, 54),
        ("mme", 2000, 1900),
        ("pope", 80, 80),
        ("sqa", 50, 55),
        ("textvqa", 40, 30),
    ]:
        record_score(scores, "full", benchmark, full)
        record_score(scores, "llava-1.5:64", benchmark, compressed)
    rows = relative_accuracy.main(["--scores-file", str(scores)])
    assert rows[1].relative == pytest.approx({"gqa": 90, "mme": 95, "pope": 100, "sqa": 110, "textvqa": 75})
    assert rows[1].average == pytest.approx(94.0)
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["method", "tokens", "GQA"]
    assert table[2].split()[:2] == ["full", "576"] and table[2].endswith("100.0")
    assert table[3].split()[:2] == ["llava-1.5:64", "63.75"] and table[3].endswith("94.0")
    assert "54.00 (90.0)" in table[3]


def test_budget_label() -> None:
    assert budget_label("llava-1.5:192") == "191.75"
    assert budget_label("my-checkpoint") == "-"


def test_missing_score_or_baseline_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = {"full": BASELINE, "x": {k: v for k, v in BASELINE.items() if k != "mme"}}
    with pytest.raises(ValueError, match="'x' has no score for mme"):
        relative_rows(scores, "full")
    with pytest.raises(ValueError, match="baseline 'base' is not in the scores file"):
        relative_rows(scores, "base")
    (tmp_path / "bad.json").write_text(json.dumps({"full": {**BASELINE, "gqa": 0}}))
    with pytest.raises(SystemExit):  # a usage error from the CLI
        relative_accuracy.main(["--scores-file", str(tmp_path / "bad.json")])
    assert "scores 0 on gqa" in capsys.readouterr().err
