"""The demo's results table, from the `results.json` dict that `llava.demo.results` builds.

One row per trained model (baseline, then each DUET preset): held-out accuracy per question type and overall, the
share of the baseline's accuracy it keeps, the training loop's time (`train_runtime` of the Trainer) and speed-up,
and, next to the demo's own numbers, the paper's for the same preset (LLaVA-1.5-7B trained under DUET, paper.md
§3.2). Below, the controls that show the models read the image: chance (a uniform guess per question type) and
every model again with the images shuffled among the questions. With several seeds a cell reads "mean±sd".
"""

from collections.abc import Sequence

CELL = 7


def _number(value: float | None, sd: float | None, digits: int, width: int, suffix: str = "") -> str:
    if value is None:
        return f"{'?':>{width}}"
    text = f"{value:.{digits}f}{suffix}" if sd is None else f"{value:.{digits}f}±{sd:.{digits}f}{suffix}"
    return f"{text:>{width}}"


def _sd(row: dict, key: str, category: str | None = None) -> float | None:
    sd = row.get("sd")
    if not sd:
        return None
    return sd[key][category] if category else sd[key]


def _accuracy_cells(row: dict, categories: Sequence[str], width: int) -> str:
    cells = [_number(row["per_type"].get(c), _sd(row, "per_type", c), 3, width) for c in categories]
    return "".join(cells) + _number(row["overall"], _sd(row, "overall"), 3, width + 1)


def format_report(results: dict) -> str:
    """The table as text (see the module docstring)."""
    runs: list[str] = results["runs"]
    categories = list(results["chance"]["per_type"])
    several = len(results["seeds"]) > 1
    width = CELL + (6 if several else 0)
    label_width = max(len(results[run]["label"]) for run in runs) + 2
    seeds = ", ".join(map(str, results["seeds"]))
    header = f"{'':<{label_width}}" + "".join(f"{c:>{width}}" for c in categories) + f"{'overall':>{width + 1}}"
    wide = 8 + (6 if several else 0)
    header += f"{'kept':>{wide}}{'paper':>8}{'train loop':>{wide + 5}}{'speed-up':>{wide + 1}}{'paper':>8}"
    lines = [
        f"DUET-VLM demo (seed{'s' if several else ''} {seeds}): held-out accuracy on {results['questions']} questions "
        f"about {results['images']} unseen images",
        "(exact match of the one-word answer, greedy decoding; 'kept' = share of the baseline's overall accuracy;",
        " paper = LLaVA-1.5-7B trained under the same preset: accuracy kept, and training-time speed-up)",
        "",
        header,
        "-" * len(header),
    ]
    paper = results.get("paper", {})
    for run in runs:
        row = results[run]
        reference = paper.get(run)
        kept = _number(row["retained_pct"], _sd(row, "retained_pct"), 1, wide, "%")
        paper_kept = f"{reference['retained_pct']:.1f}%" if reference else ("100%" if run == "baseline" else "")
        loop = _number(row["train_loop_s"], _sd(row, "train_loop_s"), 0, wide + 3, " s")
        speed = _number(row["speedup"], _sd(row, "speedup"), 2, wide + 2, "x")
        paper_speed = f"{reference['speedup']:.2f}x" if reference else ("1.00x" if run == "baseline" else "")
        lines.append(
            f"{row['label']:<{label_width}}{_accuracy_cells(row, categories, width)}{kept}{paper_kept:>8}"
            f"{loop}{speed}{paper_speed:>8}"
        )
    lines += ["", "controls (a model that ignores the image scores about the same as with shuffled images)"]
    chance = {"per_type": results["chance"]["per_type"], "overall": results["chance"]["overall"]}
    lines.append(f"{'chance (uniform guess per type)':<{label_width}}{_accuracy_cells(chance, categories, width)}")
    for run in runs:
        shuffled = results[run]["shuffled"]
        name = results[run]["label"].split(":")[0]
        lines.append(f"{name + ', images shuffled':<{label_width}}{_accuracy_cells(shuffled, categories, width)}")
    tower = results.get("tower")
    if tower:
        lines += [
            "",
            f"vision tower (pretrained on shapes, held-out scenes): object colour {tower['object_colour']:.2f}, "
            f"shape {tower['object_shape']:.2f}, side {tower['object_side']:.2f}; CLS attention on objects "
            f"{tower['cls_attention_on_objects']:.2f} (objects cover {tower['object_area']:.2f} of the patches); "
            f"objects keeping a dominant patch at 64: {tower['objects_in_dominant_64']:.2f}",
        ]
    targets = results.get("targets", {})
    if targets:
        met = ", ".join(f"{name.replace('_', ' ')}: {'yes' if ok else 'NO'}" for name, ok in targets.items())
        lines += ["", f"targets: {met}"]
    if results.get("wall_s") is not None:
        lines.append(
            f"whole demo: {results['wall_s']:.0f} s wall clock (times are this machine's; other work running at the same "
            "time inflates them)"
        )
    return "\n".join(lines)
