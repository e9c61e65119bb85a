"""The paper's headline metric: average relative accuracy over GQA, MME, POPE, SQA-IMG and TextVQA.

    python -m llava.eval.relative_accuracy --scores-file results/scores.json [--baseline full]

Relative accuracy of a method = mean over the benchmarks of score / baseline score × 100, with MME as the
perception + cognition total and POPE as the mean F1 of its three categories (paper.md §3.1, §5). The scores file
is `{method: {benchmark: score}}` (what the scorers' `--scores-file --method` write); one table row per method,
with its layer-averaged visual-token budget when the method is a DUET preset name.
"""

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from duet.budget import layer_averaged_budget
from duet.config import DuetConfig
from duet.flops import get_shape
from duet.presets import PRESETS
from llava.eval.scores_file import BENCHMARKS, load_scores

TITLES = {"gqa": "GQA", "mme": "MME", "pope": "POPE", "sqa": "SQA-IMG", "textvqa": "TextVQA"}


@dataclass(frozen=True)
class Row:
    """One method: its scores, each relative to the baseline (percent), and their mean."""

    method: str
    scores: dict[str, float]
    relative: dict[str, float]

    @property
    def average(self) -> float:
        return sum(self.relative.values()) / len(self.relative)


def relative_rows(
    scores: Mapping[str, Mapping[str, float]], baseline: str, benchmarks: Sequence[str] = BENCHMARKS
) -> list[Row]:
    """A row per method (the baseline included, at 100), in the file's order."""
    if baseline not in scores:
        raise ValueError(f"baseline {baseline!r} is not in the scores file (methods: {', '.join(scores) or 'none'})")
    for method, row in scores.items():
        missing = [b for b in benchmarks if b not in row]
        if missing:
            raise ValueError(f"method {method!r} has no score for {', '.join(missing)}; run those benchmarks first")
    zero = [b for b in benchmarks if scores[baseline][b] == 0]
    if zero:
        raise ValueError(f"baseline {baseline!r} scores 0 on {', '.join(zero)}; relative accuracy is undefined")
    return [
        Row(
            method,
            {b: float(row[b]) for b in benchmarks},
            {b: 100.0 * row[b] / scores[baseline][b] for b in benchmarks},
        )
        for method, row in scores.items()
    ]


def budget_label(method: str) -> str:
    """The layer-averaged visual tokens of a preset name on its model (e.g. "63.75"), else "-"."""
    preset = PRESETS.get(method)
    if preset is None:
        return "-"
    config = DuetConfig.from_preset(method)
    budget = layer_averaged_budget(
        config, get_shape(preset.model).num_layers, preset.patches_per_image, preset.num_images
    )
    return f"{budget:g}"


def format_table(rows: Sequence[Row], benchmarks: Sequence[str] = BENCHMARKS) -> str:
    """A fixed-width table: method, budget, each benchmark as "score (relative%)", and the average."""
    header = ["method", "tokens", *[TITLES.get(b, b) for b in benchmarks], "avg rel. %"]
    body = [
        [row.method, budget_label(row.method), *[f"{row.scores[b]:.2f} ({row.relative[b]:.1f})" for b in benchmarks],
         f"{row.average:.1f}"]
        for row in rows
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores-file", required=True, help="{method: {benchmark: score}} JSON")
    parser.add_argument("--baseline", default="full", help="the method every score is divided by (default: full)")
    parser.add_argument("--benchmarks", nargs="+", default=list(BENCHMARKS), help="benchmarks to average")
    args = parser.parse_args(argv)
    try:
        rows = relative_rows(load_scores(args.scores_file), args.baseline, args.benchmarks)
    except ValueError as error:
        parser.error(str(error))
    print(format_table(rows, args.benchmarks))
    return rows


if __name__ == "__main__":
    main()
