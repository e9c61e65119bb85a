"""The paper's table from run records: scores, both token accountings, relative accuracy, and the retained-accuracy plot.

    python -m llava.eval.summarize playground/data/eval/runs --output-dir results/table
    python -m llava.eval.summarize runs/ --baseline llava-v1.5-7b/full --average-set gqa mme pope sqa textvqa

Inputs are run records (`llava.eval.run_record`; files, or folders searched recursively), one per run and benchmark.
Each run becomes a row with:
- its score on every benchmark (the headline numbers: GQA/TextVQA/VQA accuracy %, MME perception + cognition,
  POPE mean F1 x 100, SQA IMG-Accuracy %, MMBench circular accuracy %, SEED total accuracy %, ...);
- both token accountings of its setting: visual tokens averaged over the decoder layers (the paper's "64") and the
  tokens entering the LLM (N0), from `duet.budget` as recorded by the generator;
- each score relative to the baseline run, in percent: 100 x score / baseline score (MME as a ratio of totals);
- the mean relative % over `--average-set` (default the paper's five: GQA, MME, POPE, SQA-IMG, TextVQA; "-" when
  the row or the baseline lacks one of them) and over all benchmarks both have.
The baseline of a row is the `--baseline` run of the same model, else that model's `full` run (so image and video
rows each compare with their own uncompressed model). Writes `table.md`, `table.csv` and `retained.png` (average
relative % against layer-averaged tokens, one line per method: DUET, VisionZip, PDrop, FastV presets).
"""

import argparse
import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llava.eval.run_record import RunRecord, load_run_records

PAPER_FIVE = ("gqa", "mme", "pope", "sqa", "textvqa")
TITLES = {
    "vqav2": "VQAv2", "gqa": "GQA", "vizwiz": "VizWiz", "sqa": "SQA-IMG", "textvqa": "TextVQA", "pope": "POPE",
    "mme": "MME", "mmbench": "MMB", "mmbench_cn": "MMB-CN", "seed": "SEED", "seed_image": "SEED-IMG",
    "llavabench": "LLaVA-W", "mmvet": "MM-Vet", "qbench": "Q-Bench", "msvd": "MSVD", "msrvtt": "MSRVTT",
    "tgif": "TGIF", "activitynet": "ActivityNet",
}  # fmt: skip
BENCHMARK_ORDER = tuple(TITLES)
METHODS = {"llava-1.5": "DUET", "video-llava": "DUET", "visionzip": "VisionZip", "pdrop": "PDrop", "fastv": "FastV"}
METHOD_ORDER = ("baseline", "DUET", "VisionZip", "PDrop", "FastV", "custom")
BASELINE_PRESET = "full"


def method_of(preset: str | None) -> str:
    """The plot line of a preset: its family ("llava-1.5:64" → DUET); `full` is the baseline."""
    if preset == BASELINE_PRESET:
        return "baseline"
    return METHODS.get((preset or "").split(":")[0], "custom")


@dataclass
class Row:
    """One run: its scores, token budgets, and (once a baseline is chosen) relative scores."""

    run: str
    model: str
    preset: str | None
    tokens: dict[str, float]
    scores: dict[str, float]
    lenient: set[str] = field(default_factory=set)
    undefined: set[str] = field(default_factory=set)
    baseline: str | None = None
    relative: dict[str, float] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return method_of(self.preset)

    def average(self, benchmarks: Sequence[str]) -> float | None:
        """Mean relative % over `benchmarks`, or None when one of them has no relative score."""
        if not benchmarks or any(b not in self.relative for b in benchmarks):
            return None
        return sum(self.relative[b] for b in benchmarks) / len(benchmarks)

    def average_all(self) -> float | None:
        return sum(self.relative.values()) / len(self.relative) if self.relative else None


def build_rows(records: Sequence[RunRecord]) -> list[Row]:
    """One row per run label; a (run, benchmark) given twice, or a run whose records disagree on tokens, is an error."""
    rows: dict[str, Row] = {}
    for record in records:
        row = rows.setdefault(record.run, Row(record.run, record.model, record.preset, dict(record.tokens), {}))
        if record.benchmark in row.scores:
            raise ValueError(
                f"run {record.run!r} has two records for {record.benchmark!r}; remove one (answers: "
                f"{record.answers_file})"
            )
        if (record.model, record.preset, dict(record.tokens)) != (row.model, row.preset, row.tokens):
            raise ValueError(
                f"run {record.run!r} mixes settings: {record.benchmark!r} has model {record.model!r}, preset "
                f"{record.preset!r}, tokens {record.tokens}, another benchmark {row.model!r}, {row.preset!r}, "
                f"{row.tokens}. Fix: give the runs distinct --run-name labels."
            )
        row.scores[record.benchmark] = float(record.score)
        if record.metrics.get("parse") == "lenient":
            row.lenient.add(record.benchmark)
    return list(rows.values())


def choose_baselines(rows: Sequence[Row], baselines: Sequence[str]) -> dict[str, Row]:
    """`{model: baseline row}`: the named runs, else each model's `full` run."""
    by_run = {row.run: row for row in rows}
    chosen: dict[str, Row] = {}
    for name in baselines:
        if name not in by_run:
            raise ValueError(f"baseline {name!r} is not among the runs ({', '.join(by_run) or 'none'})")
        chosen[by_run[name].model] = by_run[name]
    for row in rows:
        if row.preset == BASELINE_PRESET and row.model not in chosen:
            chosen[row.model] = row
    return chosen


def add_relative(rows: Sequence[Row], baselines: Mapping[str, Row]) -> None:
    for row in rows:
        base = baselines.get(row.model) or (next(iter(baselines.values())) if len(baselines) == 1 else None)
        if base is None:
            continue
        row.baseline = base.run
        for benchmark, score in row.scores.items():
            reference = base.scores.get(benchmark)
            if reference is None:
                continue
            if reference == 0:
                row.undefined.add(benchmark)  # shown as "-" with a note, never as a made-up number
                continue
            row.relative[benchmark] = 100.0 * score / reference


def order_rows(rows: Sequence[Row]) -> list[Row]:
    """By model, then baseline, DUET, VisionZip, PDrop, FastV, others, most tokens first within a method."""
    return sorted(
        rows,
        key=lambda r: (r.model, METHOD_ORDER.index(r.method), -r.tokens.get("layer_averaged", math.inf), r.run),
    )


def table_benchmarks(rows: Sequence[Row], wanted: Sequence[str] | None) -> list[str]:
    present = {b for row in rows for b in row.scores}
    if wanted:
        return list(wanted)
    return [b for b in BENCHMARK_ORDER if b in present] + sorted(present - set(BENCHMARK_ORDER))


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _tokens(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}".rstrip("0").rstrip(".")


def markdown_table(rows: Sequence[Row], benchmarks: Sequence[str], average_set: Sequence[str]) -> str:
    set_name = "+".join(TITLES.get(b, b) for b in average_set)
    header = ["run", "method", "tokens (avg/layer)", "tokens (LLM input)",
              *[TITLES.get(b, b) for b in benchmarks], f"avg rel. % ({set_name})", "avg rel. % (all)"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.run, row.method, _tokens(row.tokens.get("layer_averaged")), _tokens(row.tokens.get("llm_input"))]
        for b in benchmarks:
            if b not in row.scores:
                cells.append("-")
                continue
            mark = "*" if b in row.lenient else ""
            relative = f" ({row.relative[b]:.1f}%)" if b in row.relative else ""
            cells.append(f"{row.scores[b]:.2f}{mark}{relative}")
        cells += [_number(row.average(average_set), 1), _number(row.average_all(), 1)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"Relative % = 100 x score / baseline score; baselines: "
             f"{', '.join(sorted({r.baseline for r in rows if r.baseline})) or 'none'}."]  # fmt: skip
    zero = sorted({(row.baseline, b) for row in rows for b in row.undefined})
    for baseline, benchmark in zero:
        notes.append(f"baseline {baseline} scores 0 on {TITLES.get(benchmark, benchmark)}: no relative % there.")
    if any(row.lenient for row in rows):
        notes.append("* scored with an opt-in lenient answer parse (not LLaVA's rule; not comparable to papers).")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def csv_table(rows: Sequence[Row], benchmarks: Sequence[str], average_set: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["run", "model", "preset", "method", "baseline", "tokens_layer_averaged", "tokens_llm_input",
                     *benchmarks, *[f"{b}_relative" for b in benchmarks],
                     "average_relative_" + "_".join(average_set), "average_relative_all"])  # fmt: skip
    for row in rows:
        writer.writerow([row.run, row.model, row.preset or "", row.method, row.baseline or "",
                         row.tokens.get("layer_averaged", ""), row.tokens.get("llm_input", ""),
                         *[row.scores.get(b, "") for b in benchmarks], *[row.relative.get(b, "") for b in benchmarks],
                         _blank(row.average(average_set)), _blank(row.average_all())])  # fmt: skip
    return buffer.getvalue()


def _blank(value: float | None) -> float | str:
    return "" if value is None else value


def plot(rows: Sequence[Row], average_set: Sequence[str], path: Path) -> Path:
    """Accuracy retained against layer-averaged visual tokens, one line per method (and model, if several)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({row.model for row in rows})
    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    lines: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        retained = row.average(average_set)
        if retained is None or "layer_averaged" not in row.tokens:
            continue
        label = row.method if len(models) == 1 else f"{row.method} ({row.model})"
        lines.setdefault(label, []).append((row.tokens["layer_averaged"], retained))
    for label, points in sorted(lines.items(), key=lambda item: (METHOD_ORDER.index(item[0].split(" (")[0]), item[0])):
        points.sort()
        xs, ys = zip(*points, strict=True)
        style = (
            {"marker": "*", "markersize": 12, "linestyle": "none"} if label.startswith("baseline") else {"marker": "o"}
        )
        axes.plot(xs, ys, label=label, **style)
    axes.set_xlabel("visual tokens (averaged over decoder layers)")
    axes.set_ylabel("accuracy retained (%)")
    axes.set_title(f"mean relative accuracy over {', '.join(TITLES.get(b, b) for b in average_set)}", fontsize=9)
    axes.grid(True, alpha=0.3)
    if lines:
        axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def summarize(
    records: Sequence[RunRecord],
    baselines: Sequence[str] = (),
    average_set: Sequence[str] = PAPER_FIVE,
    benchmarks: Sequence[str] | None = None,
) -> list[Row]:
    rows = build_rows(records)
    if not rows:
        raise ValueError("no run records found")
    add_relative(rows, choose_baselines(rows, baselines))
    return order_rows(rows)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run record files, or folders searched recursively for them")
    parser.add_argument("--baseline", action="append", default=[],
                        help="the 100%% run of its model (repeat for several models; default: each model's full run)")  # fmt: skip
    parser.add_argument("--average-set", nargs="+", default=list(PAPER_FIVE),
                        help="benchmarks of the headline average (default: gqa mme pope sqa textvqa)")  # fmt: skip
    parser.add_argument("--benchmarks", nargs="+", default=None, help="columns to show (default: every one present)")
    parser.add_argument("--output-dir", default=None, help="write table.md, table.csv and retained.png here")
    args = parser.parse_args(argv)
    try:
        rows = summarize(load_run_records(args.runs), args.baseline, args.average_set, args.benchmarks)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    benchmarks = table_benchmarks(rows, args.benchmarks)
    markdown = markdown_table(rows, benchmarks, args.average_set)
    print(markdown, end="")
    if args.output_dir:
        out = Path(args.output_dir).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        (out / "table.md").write_text(markdown)
        (out / "table.csv").write_text(csv_table(rows, benchmarks, args.average_set))
        plot(rows, args.average_set, out / "retained.png")
        print(f"wrote {out / 'table.md'}, {out / 'table.csv'}, {out / 'retained.png'}")
    return rows


if __name__ == "__main__":
    main()
