"""`llava.demo.results` and `llava.demo.report` on hand-written run files: exact means, standard deviations, shares
of the baseline, speed-ups, the paper's numbers beside them, and the issue's contract for results.json."""

import json
import statistics
from pathlib import Path

import pytest

from llava.demo.report import format_report
from llava.demo.results import build_results, default_runs, main

CATEGORIES = ("colour", "shape", "count", "side")
CHANCE = {"colour": 1 / 6, "shape": 1 / 3, "count": 1 / 3, "side": 0.5, "overall": 1 / 3}
# seed -> run -> (accuracy per type, shuffled overall, train_runtime seconds, losses)
RUNS = {
    0: {
        "baseline": ((0.9, 0.8, 1.0, 0.9), 0.35, 100.0, [2.0, 1.0]),
        "duet-192": ((0.9, 0.8, 1.0, 0.8), 0.34, 50.0, [2.0, 1.1]),
        "duet-64": ((0.8, 0.7, 1.0, 0.8), 0.33, 40.0, [2.0, 1.2]),
    },
    1: {
        "baseline": ((0.8, 0.8, 1.0, 0.8), 0.36, 120.0, [2.1, 0.9]),
        "duet-192": ((0.8, 0.8, 1.0, 0.8), 0.35, 60.0, [2.1, 1.0]),
        "duet-64": ((0.7, 0.6, 1.0, 0.7), 0.30, 40.0, [2.1, 1.3]),
    },
}


def _accuracy(values: tuple[float, ...]) -> dict[str, float]:
    return {**dict(zip(CATEGORIES, values, strict=True)), "overall": sum(values) / len(values)}


def _trainer_state(folder: Path, runtime: float, losses: list[float]) -> None:
    folder.mkdir(parents=True)
    history = [{"step": 10 * (i + 1), "loss": loss} for i, loss in enumerate(losses)]
    state = {"global_step": 10 * len(losses), "log_history": [*history, {"train_runtime": runtime}]}
    (folder / "trainer_state.json").write_text(json.dumps(state))


def _write_runs(root: Path) -> Path:
    tower = root / "tower"
    tower.mkdir()
    held_out = {"object_colour": 1.0, "object_shape": 0.9, "object_side": 0.95, "cls_attention_on_objects": 0.8,
                "object_area": 0.06, "objects_in_dominant_64": 1.0}  # fmt: skip
    (tower / "tower_training.json").write_text(
        json.dumps({"log_history": [{"step": 1, "loss": 3.0}], "held_out": held_out})
    )
    output = root / "demo"
    for seed, runs in RUNS.items():
        seed_dir = output / f"seed-{seed}"
        _trainer_state(seed_dir / "pretrain", 5.0, [4.0, 3.0])
        for run, (accuracy, shuffled, runtime, losses) in runs.items():
            _trainer_state(seed_dir / f"finetune-{run}", runtime, losses)
            (seed_dir / f"finetune-{run}" / "config.json").write_text(json.dumps({"mm_vision_tower": str(tower)}))
            evaluation = {
                "accuracy": _accuracy(accuracy),
                "shuffled": {**{c: shuffled for c in CATEGORIES}, "overall": shuffled},
                "chance": CHANCE,
                "questions": 400,
                "images": 100,
                "question_file": str(root / "eval.jsonl"),
                "image_folder": str(root),
            }
            (seed_dir / f"eval-{run}.json").write_text(json.dumps(evaluation))
    return output


@pytest.fixture
def results(tmp_path: Path) -> dict:
    return build_results(_write_runs(tmp_path), [0, 1], "192", default_runs("192"), wall_s=321.0)


def _overall(seed: int, run: str) -> float:
    return _accuracy(RUNS[seed][run][0])["overall"]


def test_the_issue_contract(results: dict) -> None:
    for key in ("baseline", "duet", "chance", "train_loop_s"):
        assert key in results
    assert set(results["baseline"]) >= {"overall", "per_type", "shuffled", "train_loop_s", "retained_pct", "speedup"}
    assert list(results["baseline"]["per_type"]) == list(CATEGORIES)
    assert results["duet"] == results["duet-192"]
    assert results["chance"]["per_type"] == {c: CHANCE[c] for c in CATEGORIES}
    assert results["train_loop_s"] == {"baseline": 110.0, "duet-192": 55.0, "duet-64": 40.0, "duet": 55.0}
    assert results["runs"] == ["baseline", "duet-192", "duet-64"]
    json.dumps(results)  # serialisable as is


def test_means_and_standard_deviations_over_seeds(results: dict) -> None:
    duet = results["duet-64"]
    overall = [_overall(0, "duet-64"), _overall(1, "duet-64")]
    assert duet["overall"] == pytest.approx(statistics.fmean(overall))
    assert duet["sd"]["overall"] == pytest.approx(statistics.stdev(overall))
    assert duet["per_type"]["shape"] == pytest.approx(0.65)
    assert duet["sd"]["per_type"]["count"] == 0.0
    retained = [100 * _overall(s, "duet-64") / _overall(s, "baseline") for s in (0, 1)]
    assert duet["retained_pct"] == pytest.approx(statistics.fmean(retained))
    assert duet["speedup"] == pytest.approx(statistics.fmean([100 / 40, 120 / 40]))
    assert results["duet-192"]["speedup"] == pytest.approx(2.0)
    assert results["baseline"]["retained_pct"] == 100.0
    assert duet["shuffled"]["overall"] == pytest.approx(0.315)


def test_paper_numbers_and_targets(results: dict) -> None:
    assert results["paper"]["duet-192"] == {"retained_pct": 99.7, "train_time_cut_pct": 26.0, "speedup": 100 / 74}
    assert results["paper"]["duet-64"]["retained_pct"] == 97.6
    assert results["duet-64"]["visual_tokens"] == {
        "into_llm": 45,
        "layer_average": 28.0,
        "reduction_pct": pytest.approx(89.06, abs=0.01),
    }
    targets = results["targets"]
    for category in CATEGORIES:  # baseline means 0.85, 0.8, 1.0, 0.85 against chance + 0.10
        assert targets[f"baseline_{category}_above_chance_plus_0.1"] is True
    assert targets["duet-192_retains_95pct"] is True  # 98.6 %
    assert targets["duet-64_retains_90pct"] is False  # 88.7 %
    assert targets["duet-192_train_loop_1.5x_faster"] is True


def test_table_shows_every_row_with_mean_and_sd(results: dict) -> None:
    table = format_report(results)
    assert "seeds 0, 1" in table and "400 questions about 100 unseen images" in table
    for label in ("baseline: all 256 visual tokens", "DUET 192: 67% fewer visual tokens (avg 85 of 256)",
                  "DUET 64: 89% fewer visual tokens (avg 28 of 256)", "chance (uniform guess per type)",
                  "baseline, images shuffled", "DUET 64, images shuffled"):  # fmt: skip
        assert label in table
    duet_row = next(line for line in table.splitlines() if line.startswith("DUET 192: "))
    assert "0.850±0.071" in duet_row and "99.7%" in duet_row and "1.35x" in duet_row and "2.00±0.00x" in duet_row
    assert "duet-64 retains 90pct: NO" in table
    assert "whole demo: 321 s" in table


def test_a_preset_other_than_192_and_64_adds_its_row() -> None:
    assert default_runs("128") == ["baseline", "duet-192", "duet-128", "duet-64"]
    assert default_runs("64") == ["baseline", "duet-192", "duet-64"]


def test_main_writes_results_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = _write_runs(tmp_path)
    main(["--output", str(output), "--seeds", "0", "--preset", "64", "--no-pictures"])
    results = json.loads((output / "results.json").read_text())
    assert results["duet"] == results["duet-64"] and results["seeds"] == [0] and "sd" not in results["baseline"]
    assert (output / "results.txt").read_text().strip() in capsys.readouterr().out


def test_an_unfinished_run_is_named(tmp_path: Path) -> None:
    output = _write_runs(tmp_path)
    (output / "seed-1" / "finetune-duet-64" / "trainer_state.json").unlink()
    with pytest.raises(FileNotFoundError, match="finetune-duet-64 did not finish"):
        build_results(output, [0, 1], "192", default_runs("192"), wall_s=None)
