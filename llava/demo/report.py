"""The demo's final table: held-out accuracy of each run next to chance and its shuffled-image control.

    python -m llava.demo.report --run "baseline=eval-baseline.json" --run "DUET 192=eval-duet-192.json" \\
        --wall baseline=151.2 --wall "DUET 192=97.0"

Each `--run LABEL=FILE` is a results file of `llava.demo.evaluate`; its accuracy row is followed by the same
model's row with shuffled images, so a reader sees at a glance whether the model reads the picture. Chance comes
from the first results file (all runs share the question file). Below the accuracies, each run's training time:
the training loop as the Trainer measured it (`train_runtime` in the checkpoint's `trainer_state.json`) and, when
`--wall LABEL=SECONDS` is given, the whole training process (start-up, data check and saving included); the
first run's times divided by each other run's are the measured speed-ups.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

COLUMN_WIDTH = 8


@dataclass(frozen=True)
class Run:
    """One evaluated checkpoint: its label, `evaluate.py` results, and its training times (None if unknown)."""

    label: str
    results: dict
    loop_seconds: float | None
    steps: int | None
    wall_seconds: float | None


def _pair(text: str) -> tuple[str, str]:
    label, sep, value = text.rpartition("=")
    if not sep or not label:
        raise argparse.ArgumentTypeError(f"expected LABEL=VALUE, got {text!r}")
    return label, value


def trainer_times(checkpoint: str | Path) -> tuple[float | None, int | None]:
    """(`train_runtime` seconds, optimizer steps) from a checkpoint's `trainer_state.json`, or (None, None)."""
    path = Path(checkpoint) / "trainer_state.json"
    if not path.is_file():
        return None, None
    state = json.loads(path.read_text())
    runtime = next((e["train_runtime"] for e in state.get("log_history", []) if "train_runtime" in e), None)
    return runtime, state.get("global_step")


def _row(label: str, scores: dict[str, float], columns: Sequence[str], width: int) -> str:
    cells = "".join(f"{scores[c]:>{COLUMN_WIDTH}.3f}" if c in scores else " " * COLUMN_WIDTH for c in columns)
    return f"{label:<{width}}{cells}"


def _accuracy_lines(runs: Sequence[Run]) -> list[str]:
    first = runs[0].results
    columns = list(first["chance"])
    chance_label = "chance (uniform guess per question type)"
    width = max(len(chance_label), *(len(r.label) for r in runs)) + 2
    header = f"{'':<{width}}" + "".join(f"{c:>{COLUMN_WIDTH}}" for c in columns)
    lines = [
        f"Held-out accuracy: {first['questions']} questions on {first['images']} unseen images "
        "(exact match of the first word, greedy decoding)",
        "",
        header,
        "-" * len(header),
        _row(chance_label, first["chance"], columns, width),
    ]
    for run in runs:
        lines.append(_row(run.label, run.results["accuracy"], columns, width))
        lines.append(_row("  same model, images shuffled", run.results["shuffled"], columns, width))
    return lines


def _short(label: str) -> str:
    """A label up to its first colon ("DUET 192: 67% fewer ..." -> "DUET 192")."""
    return label.split(":")[0]


def _time_lines(runs: Sequence[Run]) -> list[str]:
    width = max(len(r.label) for r in runs) + 2
    lines = [
        "",
        "training time (wall clock: other work on the machine inflates it, so compare runs made on an idle machine)",
        f"{'':<{width}}{'steps':>7}{'train loop':>13}{'whole process':>16}",
    ]
    for run in runs:
        steps = f"{run.steps}" if run.steps is not None else "?"
        loop = f"{run.loop_seconds:.1f} s" if run.loop_seconds is not None else "?"
        wall = f"{run.wall_seconds:.1f} s" if run.wall_seconds is not None else "?"
        lines.append(f"{run.label:<{width}}{steps:>7}{loop:>13}{wall:>16}")
    reference = runs[0]
    for run in runs[1:]:
        ratios = []
        if reference.loop_seconds and run.loop_seconds:
            ratios.append(f"{reference.loop_seconds / run.loop_seconds:.2f}x (train loop)")
        if reference.wall_seconds and run.wall_seconds:
            ratios.append(f"{reference.wall_seconds / run.wall_seconds:.2f}x (whole process)")
        if ratios:
            lines.append(f"speed-up of {_short(run.label)} over {_short(reference.label)}: {', '.join(ratios)}")
    return lines


def format_report(runs: Sequence[Run]) -> str:
    """The table as text (see the module docstring)."""
    return "\n".join(_accuracy_lines(runs) + _time_lines(runs))


def load_runs(pairs: Sequence[tuple[str, str]], walls: Sequence[tuple[str, str]]) -> list[Run]:
    """Read each results file and its checkpoint's trainer state; `walls` are matched to runs by label."""
    wall = {label: float(seconds) for label, seconds in walls}
    unknown = sorted(set(wall) - {label for label, _ in pairs})
    if unknown:
        raise ValueError(f"--wall labels {unknown} match no --run label")
    runs = []
    for label, path in pairs:
        results = json.loads(Path(path).read_text())
        loop, steps = trainer_times(results["model_path"])
        runs.append(Run(label, results, loop, steps, wall.get(label)))
    return runs


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Print the demo's accuracy table from evaluate.py results files.")
    parser.add_argument("--run", action="append", type=_pair, required=True, metavar="LABEL=RESULTS_JSON")
    parser.add_argument("--wall", action="append", type=_pair, default=[], metavar="LABEL=SECONDS")
    parser.add_argument("--out", help="also write the table to this file")
    args = parser.parse_args(argv)
    text = format_report(load_runs(args.run, args.wall))
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
