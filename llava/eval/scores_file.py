"""The scores file: `{method: {benchmark: score}}` in JSON, written by the scorers, read by `relative_accuracy`.

Every scorer takes `--scores-file PATH --method NAME` and records its headline number there (GQA accuracy %, MME
perception + cognition total, POPE average F1 x 100, ScienceQA IMG-Accuracy %, TextVQA accuracy %), so that
`scripts/v1_5/eval/paper_table.sh` can collect one run per preset and print the paper's table without parsing logs.
"""

import argparse
import json
import os
from pathlib import Path

BENCHMARKS = ("gqa", "mme", "pope", "sqa", "textvqa")


def add_scores_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scores-file", default=None, help="also record the headline score in this JSON file")
    parser.add_argument("--method", default=None, help="row name under which the score is recorded (e.g. a preset)")


def load_scores(path: str | Path) -> dict[str, dict[str, float]]:
    """The whole file (an empty table when it does not exist yet)."""
    path = Path(path).expanduser()
    if not path.exists():
        return {}
    scores = json.loads(path.read_text())
    if not isinstance(scores, dict) or not all(isinstance(row, dict) for row in scores.values()):
        raise ValueError(f"{path}: expected {{method: {{benchmark: score}}}}, got {type(scores).__name__}")
    return scores


def record_score(path: str | Path, method: str, benchmark: str, value: float) -> None:
    """Set `scores[method][benchmark] = value`, keeping every other entry; the file is replaced atomically."""
    path = Path(path).expanduser()
    scores = load_scores(path)
    scores.setdefault(method, {})[benchmark] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(scores, indent=2) + "\n")
    temporary.replace(path)


def record_from_args(args: argparse.Namespace, benchmark: str, value: float) -> None:
    """Record when `--scores-file` was given; `--method` is then required."""
    if args.scores_file is None:
        return
    if not args.method:
        raise ValueError("--scores-file needs --method NAME (the table row, e.g. full or llava-1.5:64)")
    record_score(args.scores_file, args.method, benchmark, value)
