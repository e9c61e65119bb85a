"""The paper's table from run records: relative accuracy (checked against the VisionZip rows it reproduces,
paper.md §3.1), both token accountings, video rows in the same table, markdown / CSV / PNG outputs."""

import csv
import io
from pathlib import Path

import pytest
from PIL import Image

from llava.eval import summarize
from llava.eval.run_record import RunRecord, load_run_records, run_label, write_run_record

# LLaVA-1.5-7B baseline and VisionZip's own numbers, as quoted in paper.md §3.1 (GQA, MME, POPE, SQA, TextVQA).
BASELINE = {"gqa": 61.9, "mme": 1862, "pope": 85.9, "sqa": 69.5, "textvqa": 58.2}
VISIONZIP = {
    "visionzip:192": ({"gqa": 59.3, "mme": 1782.6, "pope": 85.3, "sqa": 68.9, "textvqa": 57.3}, 97.7),
    "visionzip:128": ({"gqa": 57.6, "mme": 1761.7, "pope": 83.2, "sqa": 68.9, "textvqa": 56.8}, 96.3),
    "visionzip:64": ({"gqa": 55.1, "mme": 1690, "pope": 77.0, "sqa": 69.0, "textvqa": 55.5}, 92.8),
}
TOKENS = {"full": (576.0, 576), "visionzip:192": (192.0, 192), "visionzip:128": (128.0, 128),
          "visionzip:64": (64.0, 64), "llava-1.5:64": (63.75, 102), "video-llava:960": (960.0, 1536),
          "fastv:64": (64.125, 576)}  # fmt: skip


def records_for(preset: str, scores: dict[str, float], model: str = "llava-v1.5-7b") -> list[RunRecord]:
    layer_averaged, llm_input = (
        TOKENS.get(preset, (576.0, 576)) if model == "llava-v1.5-7b" or preset != "full" else (2048.0, 2048)
    )
    return [
        RunRecord(run=run_label(model, preset), model=model, preset=preset, benchmark=benchmark, score=score,
                  tokens={"layer_averaged": layer_averaged, "llm_input": llm_input})
        for benchmark, score in scores.items()
    ]  # fmt: skip


def test_reproduces_the_published_visionzip_averages() -> None:
    records = records_for("full", BASELINE)
    for name, (scores, _) in VISIONZIP.items():
        records += records_for(name, scores)
    rows = {row.preset: row for row in summarize.summarize(records)}
    assert rows["full"].average(summarize.PAPER_FIVE) == pytest.approx(100.0)
    for name, (_, published) in VISIONZIP.items():
        assert round(rows[name].average(summarize.PAPER_FIVE), 1) == published
        assert rows[name].method == "VisionZip" and rows[name].baseline == "llava-v1.5-7b/full"


def test_hand_computed_rows_tokens_and_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = {"gqa": 60, "mme": 2000, "pope": 80, "sqa": 50, "textvqa": 40, "mmbench": 64}
    duet = {"gqa": 54, "mme": 1900, "pope": 80, "sqa": 55, "textvqa": 30, "mmbench": 48}
    fastv = {"gqa": 30, "pope": 40}  # incomplete: no paper-five average, an all-available one
    for preset, scores in (("full", full), ("llava-1.5:64", duet), ("fastv:64", fastv)):
        for record in records_for(preset, scores):
            write_run_record(tmp_path / "runs" / record.run / f"{record.benchmark}.json", record)
    rows = summarize.main([str(tmp_path / "runs"), "--output-dir", str(tmp_path / "out")])
    assert [row.preset for row in rows] == ["full", "llava-1.5:64", "fastv:64"]
    duet_row = rows[1]
    # 54/60=90, 1900/2000=95, 80/80=100, 55/50=110, 30/40=75 → mean 94; with MMBench 48/64=75 → (470+75)/6
    assert duet_row.relative == pytest.approx(
        {"gqa": 90, "mme": 95, "pope": 100, "sqa": 110, "textvqa": 75, "mmbench": 75}
    )
    assert duet_row.average(summarize.PAPER_FIVE) == pytest.approx(94.0)
    assert duet_row.average_all() == pytest.approx(545 / 6)
    assert rows[2].average(summarize.PAPER_FIVE) is None and rows[2].average_all() == pytest.approx(50.0)
    markdown = (tmp_path / "out" / "table.md").read_text()
    assert capsys.readouterr().out.startswith(markdown)
    lines = markdown.splitlines()
    assert lines[0].startswith(
        "| run | method | tokens (avg/layer) | tokens (LLM input) | GQA | SQA-IMG | TextVQA | POPE | MME | MMB |"
    )
    assert lines[3] == ("| llava-v1.5-7b/llava-1.5-64 | DUET | 63.75 | 102 | 54.00 (90.0%) | 55.00 (110.0%) | 30.00 (75.0%) | "
                        "80.00 (100.0%) | 1900.00 (95.0%) | 48.00 (75.0%) | 94.0 | 90.8 |")  # fmt: skip
    assert lines[4].endswith("| - | 50.0 |")
    table = list(csv.DictReader(io.StringIO((tmp_path / "out" / "table.csv").read_text())))
    assert table[1]["tokens_layer_averaged"] == "63.75" and table[1]["tokens_llm_input"] == "102"
    assert float(table[1]["average_relative_gqa_mme_pope_sqa_textvqa"]) == pytest.approx(94.0)
    with Image.open(tmp_path / "out" / "retained.png") as image:
        assert image.size[0] > 300 and image.size[1] > 200


def test_video_rows_join_the_table_with_their_own_baseline() -> None:
    """Video records (the video evaluation writes the same format) compare with the video model's full run."""
    records = records_for("full", {"gqa": 60, "mme": 2000}) + records_for("llava-1.5:64", {"gqa": 57, "mme": 1900})
    records += records_for("full", {"msvd": 70.0, "tgif": 47.0}, model="video-llava-7b")
    records += records_for("video-llava:960", {"msvd": 70.7, "tgif": 48.0}, model="video-llava-7b")
    rows = summarize.summarize(records, average_set=("msvd", "tgif"))
    video = next(row for row in rows if row.preset == "video-llava:960")
    assert video.baseline == "video-llava-7b/full" and video.method == "DUET"
    assert video.relative == pytest.approx({"msvd": 101.0, "tgif": 100 * 48 / 47})
    assert video.tokens == {"layer_averaged": 960.0, "llm_input": 1536}
    image = next(row for row in rows if row.preset == "llava-1.5:64")
    assert image.baseline == "llava-v1.5-7b/full" and image.relative == pytest.approx({"gqa": 95.0, "mme": 95.0})
    table = summarize.markdown_table(rows, summarize.table_benchmarks(rows, None), ("msvd", "tgif"))
    assert "| video-llava-7b/video-llava-960 | DUET | 960 | 1536 |" in table


def test_bad_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    duplicate = records_for("full", BASELINE) + records_for("full", {"gqa": 1.0})
    with pytest.raises(ValueError, match="two records for 'gqa'"):
        summarize.summarize(duplicate)
    with pytest.raises(ValueError, match="baseline 'nope' is not among the runs"):
        summarize.summarize(records_for("full", BASELINE), baselines=["nope"])
    rows = summarize.summarize(records_for("full", {**BASELINE, "gqa": 0}) + records_for("llava-1.5:64", BASELINE))
    assert "gqa" not in rows[1].relative and rows[1].average(summarize.PAPER_FIVE) is None  # not a made-up number
    table = summarize.markdown_table(rows, list(BASELINE), summarize.PAPER_FIVE)
    assert "baseline llava-v1.5-7b/full scores 0 on GQA: no relative % there." in table
    (tmp_path / "bad.json").write_text('{"record": "duet-eval-run", "version": 1, "run": "x"}')
    with pytest.raises(ValueError, match=r"lacks \['model', 'benchmark', 'score'\]"):
        load_run_records([tmp_path / "bad.json"])
    with pytest.raises(SystemExit):
        summarize.main([str(tmp_path / "missing")])
    assert "does not exist" in capsys.readouterr().err
