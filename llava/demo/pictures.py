"""The demo's pictures, written next to `results.json`:

- `trace-duet-<preset>.png`: one held-out image and question through a DUET-trained model: the patches V2V keeps
  (and merges) and those left after each T2V stage. Built from one forward pass by the LLaVA host of `duet show`
  (`llava.duet_host.LlavaDuetHost.trace`) and drawn by the same renderer (`duet.render.render_trace`);
- `accuracy.png`: held-out accuracy per question type for every run, with chance and the shuffled-image control;
- `loss.png`: the training loss of the tower pretraining, the projector pretraining, and the finetuning runs
  (against the training loop's seconds, which is where DUET's speed shows).

The charts need matplotlib (the `dev` extra, which the README's install includes); without it they are skipped
with a note, and the trace, which needs only PIL, is still drawn.
"""

import json
from pathlib import Path

from duet.render import render_trace
from llava.demo.presets import DEMO_PRESETS
from llava.duet_host import LlavaDuetHost

RUN_COLOURS = {"baseline": "#4c72b0", "duet-192": "#dd8452", "duet-128": "#55a868", "duet-64": "#c44e52"}


def trace_example(question_file: Path) -> tuple[str, str]:
    """(image, question) to trace: the first held-out image with three shapes, and its shape question."""
    questions = [json.loads(line) for line in question_file.read_text().splitlines() if line.strip()]
    three = {q["image"] for q in questions if q["category"] == "count" and q["answer"] == "three"}
    pool = [q for q in questions if q["category"] == "shape" and (q["image"] in three or not three)]
    if not pool:
        raise ValueError(f"{question_file} has no shape question to trace")
    return pool[0]["image"], pool[0]["text"]


def draw_trace(model_path: Path, image: Path, question: str, preset: str, out: Path) -> Path:
    """Trace `question` about `image` through the checkpoint under its demo preset, and render it to `out`."""
    trace = LlavaDuetHost().trace(str(model_path), None, str(image), question, DEMO_PRESETS[preset])
    render_trace(trace, out)
    return out


def _pyplot():  # noqa: ANN202 - matplotlib is optional; its module type is not importable without it
    try:
        import matplotlib
    except ImportError:
        print("[pictures] matplotlib is not installed (pip install -e .[dev]); skipping the charts")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_accuracy(results: dict, out: Path) -> Path | None:
    """Grouped bars: accuracy per question type (and overall) per run; chance and shuffled images as markers."""
    plt = _pyplot()
    if plt is None:
        return None
    runs = results["runs"]
    categories = [*results["chance"]["per_type"], "overall"]
    figure, axes = plt.subplots(figsize=(8, 3.6), dpi=100)
    width = 0.8 / len(runs)

    def value(row: dict, category: str) -> float:
        return row["overall"] if category == "overall" else row["per_type"][category]

    for index, run in enumerate(runs):
        row = results[run]
        positions = [c + (index - (len(runs) - 1) / 2) * width for c in range(len(categories))]
        sd = row.get("sd")
        errors = [(sd["overall"] if c == "overall" else sd["per_type"][c]) or 0 for c in categories] if sd else None
        axes.bar(positions, [value(row, c) for c in categories], width, yerr=errors, capsize=2,
                 label=row["label"].split(" (")[0], color=RUN_COLOURS.get(run))  # fmt: skip
        axes.scatter(positions, [value(row["shuffled"], c) for c in categories], marker="x", color="black", s=14,
                     zorder=3, label="same model, images shuffled" if index == 0 else None)  # fmt: skip
    chance = results["chance"]
    for c, category in enumerate(categories):
        axes.hlines(value(chance, category), c - 0.45, c + 0.45, colors="grey", linestyles="dashed",
                    label="chance" if c == 0 else None)  # fmt: skip
    axes.set_xticks(range(len(categories)), categories)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("held-out accuracy")
    seeds = results["seeds"]
    axes.set_title(f"Held-out accuracy by question type ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})")
    axes.legend(fontsize=7, loc="lower right", ncol=2)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
    return out


def draw_losses(results: dict, out: Path) -> Path | None:
    """Three panels from the first seed: tower pretraining, projector pretraining, finetuning against loop seconds."""
    plt = _pyplot()
    if plt is None:
        return None
    seed = results["per_seed"][0]
    figure, (tower, projector, finetune) = plt.subplots(1, 3, figsize=(11, 3.2), dpi=100)
    if seed.get("tower"):
        history = seed["tower"]["log_history"]
        tower.plot([h["step"] for h in history], [h["loss"] for h in history], color="#8172b3")
    tower.set(title="vision tower pretraining", xlabel="step", ylabel="loss")
    steps, losses = zip(*seed["pretrain_loss"], strict=True) if seed["pretrain_loss"] else ((), ())
    projector.plot(steps, losses, color="#937860")
    projector.set(title="projector pretraining", xlabel="step")
    for run in results["runs"]:
        numbers = seed["runs"][run]
        if not numbers["loss"] or not numbers["train_loop_s"] or not numbers["steps"]:
            continue
        per_step = numbers["train_loop_s"] / numbers["steps"]
        finetune.plot([s * per_step for s, _ in numbers["loss"]], [loss for _, loss in numbers["loss"]],
                      label=results[run]["label"].split(" (")[0], color=RUN_COLOURS.get(run))  # fmt: skip
    finetune.set(title="finetuning (same steps)", xlabel="training-loop seconds (mean time per step x step)")
    if finetune.lines:
        finetune.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out)
    plt.close(figure)
    return out


def draw_pictures(results: dict, output: Path) -> list[Path]:
    """Every picture for `results` (first seed's checkpoints for the traces); returns the files written."""
    seed = results["per_seed"][0]
    seed_dir = output / f"seed-{seed['seed']}"
    image, question = trace_example(Path(seed["question_file"]))
    written: list[Path] = []
    for run in results["runs"]:
        if run.startswith("duet-"):
            preset = run.removeprefix("duet-")
            written.append(
                draw_trace(
                    seed_dir / f"finetune-{run}",
                    Path(seed["image_folder"]) / image,
                    question,
                    preset,
                    output / f"trace-{run}.png",
                )  # fmt: skip
            )
    for drawn in (draw_accuracy(results, output / "accuracy.png"), draw_losses(results, output / "loss.png")):
        if drawn is not None:
            written.append(drawn)
    return written
