"""The bench's outputs: per-preset ratios against `full`, the issue's targets, markdown, JSON and a PNG plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.measure import Timing

FAMILIES = {"llava-1.5": "DUET", "visionzip": "VisionZip", "pdrop": "PyramidDrop", "fastv": "FastV"}


@dataclass(frozen=True)
class PresetResult:
    """Everything measured for one preset (times in seconds, memory in bytes)."""

    preset: str
    avg_tokens: float
    n0: int
    predicted_prefill_speedup: float
    prefill: dict[str, Timing]
    train_step: Timing
    decode_step: Timing
    peak_prefill_bytes: int
    peak_train_bytes: int
    kv_cache_bytes: int


@dataclass(frozen=True)
class Ratios:
    """One preset relative to `full` (speedups > 1 are faster; memory ratios < 1 are smaller)."""

    prefill: dict[str, float]
    train_step: float
    decode: float
    peak_prefill: float
    peak_train: float
    kv_cache: float


def ratios(result: PresetResult, full: PresetResult) -> Ratios:
    return Ratios(
        prefill={b: full.prefill[b].median / t.median for b, t in result.prefill.items()},
        train_step=full.train_step.median / result.train_step.median,
        decode=full.decode_step.median / result.decode_step.median,
        peak_prefill=result.peak_prefill_bytes / full.peak_prefill_bytes,
        peak_train=result.peak_train_bytes / full.peak_train_bytes,
        kv_cache=result.kv_cache_bytes / full.kv_cache_bytes,
    )


def family(preset: str) -> str:
    return FAMILIES.get(preset.split(":")[0], preset)


def as_json(results: Sequence[PresetResult], settings: dict) -> dict:
    """The `--json` document: `{"settings", "presets": [{"preset", "predicted_prefill_speedup", ...}]}`."""
    full = results[0]
    rows = []
    for result in results:
        r = ratios(result, full)
        rows.append(
            {
                "preset": result.preset,
                "avg_visual_tokens": result.avg_tokens,
                "n0": result.n0,
                "predicted_prefill_speedup": result.predicted_prefill_speedup,
                "prefill_speedup": r.prefill,
                "train_step_speedup": r.train_step,
                "decode_speedup": r.decode,
                "peak_memory_ratio": max(r.peak_prefill, r.peak_train),
                "peak_memory_ratio_prefill": r.peak_prefill,
                "peak_memory_ratio_train": r.peak_train,
                "kv_cache_ratio": r.kv_cache,
                "seconds": {
                    **{f"prefill_batch_{b}": asdict(t) for b, t in result.prefill.items()},
                    "train_step": asdict(result.train_step),
                    "decode_step": asdict(result.decode_step),
                },
                "bytes": {
                    "peak_prefill": result.peak_prefill_bytes,
                    "peak_train": result.peak_train_bytes,
                    "kv_cache": result.kv_cache_bytes,
                },
            }
        )
    return {"settings": settings, "presets": rows}


def markdown_table(results: Sequence[PresetResult], batches: Sequence[str]) -> str:
    full = results[0]
    prefill_cols = [f"prefill b{b}" for b in batches]
    header = ["preset", "avg tok", "N0", "FLOPs-predicted", *prefill_cols, "train step", "decode", "peak mem (prefill / train)", "KV cache"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for result in results:
        r = ratios(result, full)
        cells = [
            f"`{result.preset}`",
            f"{result.avg_tokens:g}",
            str(result.n0),
            f"{result.predicted_prefill_speedup:.2f}×",
            *[f"{r.prefill[b]:.2f}× (±{result.prefill[b].spread * 50:.0f}%)" for b in batches],
            f"{r.train_step:.2f}× (±{result.train_step.spread * 50:.0f}%)",
            f"{r.decode:.2f}× (±{result.decode_step.spread * 50:.0f}%)",
            f"{r.peak_prefill:.2f} / {r.peak_train:.2f}",
            f"{r.kv_cache:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Check:
    target: str
    measured: str
    met: bool


def target_checks(results: Sequence[PresetResult], batches: Sequence[str]) -> list[Check]:
    """The engine issue's targets, each with what was measured."""
    full = results[0]
    by_name = {r.preset: r for r in results}
    duet = [r for r in results if family(r.preset) == "DUET"]
    big = batches[-1]
    checks = []
    for result in duet:
        r = ratios(result, full)
        share = r.prefill[big] / result.predicted_prefill_speedup
        checks.append(Check(f"{result.preset}: batch-{big} prefill ≥ 90% of FLOPs-predicted", f"{share:.0%}", share >= 0.9))
        if batches[0] != big:
            keep = r.prefill[big] / r.prefill[batches[0]]
            checks.append(Check(f"{result.preset}: batch-{big} gain ≥ 95% of batch-{batches[0]} gain", f"{keep:.0%}", keep >= 0.95))
        checks.append(Check(f"{result.preset}: decode tokens/s ≥ full's", f"{r.decode:.2f}×", r.decode >= 1.0))
        peak = max(r.peak_prefill, r.peak_train)
        checks.append(Check(f"{result.preset}: peak memory ≤ full's (prefill, training)", f"{r.peak_prefill:.2f}, {r.peak_train:.2f}", peak <= 1.0))
    if "llava-1.5:64" in by_name and "visionzip:64" in by_name:
        ours, theirs = by_name["llava-1.5:64"], by_name["visionzip:64"]
        rel = theirs.prefill[big].median / ours.prefill[big].median
        checks.append(Check(f"llava-1.5:64 batch-{big} prefill ≥ visionzip:64's", f"{rel:.2f}×", rel >= 1.0))
    if "llava-1.5:192" in by_name:
        r = ratios(by_name["llava-1.5:192"], full)
        checks.append(Check("llava-1.5:192 training step ≥ 1.35× faster", f"{r.train_step:.2f}×", r.train_step >= 1.35))
    return checks


def format_checks(checks: Sequence[Check]) -> str:
    return "\n".join(f"- [{'x' if c.met else ' '}] {c.target}: {c.measured}" for c in checks)


def write_plot(results: Sequence[PresetResult], batch: str, path: Path) -> None:
    """Measured (solid) and FLOPs-predicted (dashed) prefill speedup against layer-averaged visual tokens."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit("--plot needs matplotlib: `pip install -e .[dev]`.") from error
    full = results[0]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name in FAMILIES.values():
        members = sorted((r for r in results if family(r.preset) == name), key=lambda r: r.avg_tokens)
        if not members:
            continue
        xs = [r.avg_tokens for r in members]
        line = ax.plot(xs, [ratios(r, full).prefill[batch] for r in members], marker="o", label=f"{name} (measured)")[0]
        ax.plot(xs, [r.predicted_prefill_speedup for r in members], linestyle="--", color=line.get_color(), alpha=0.6)
    ax.set_xlabel("layer-averaged visual tokens (full = 576)")
    ax.set_ylabel(f"prefill speedup over full, batch {batch}")
    ax.set_title("DUET vs peers at equal budgets (dashed: FLOPs-predicted)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_outputs(results, settings, batches, json_path, markdown_path, plot_path) -> None:
    if json_path:
        Path(json_path).write_text(json.dumps(as_json(results, settings), indent=2) + "\n")
    if markdown_path:
        Path(markdown_path).write_text(markdown_table(results, batches) + "\n\n" + format_checks(target_checks(results, batches)) + "\n")
    if plot_path:
        write_plot(results, batches[-1], Path(plot_path))
