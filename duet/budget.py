"""Token-budget and FLOPs accounting for a `DuetConfig`, and a side-by-side table of presets.

The paper's budgets ("192", "128", "64") are layer-averaged visual-token counts (paper.md §2.3), while the
LLM input holds N0 = dominant + contextual tokens. Peers mix both conventions (peers.md §0.2), so every
report here shows both: N0, the per-layer counts, their mean, and the reduction versus the full count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from duet.config import DuetConfig
from duet.flops import ModelShape, layer_prefill_flops

DEFAULT_TEXT_TOKENS = 64
"""Text tokens in a typical LLaVA-1.5 VQA prefill: the Vicuna system prompt (~35 tokens), a short question and
the chat template tail. Only FLOPs depend on it; token budgets do not."""

TRAINING_FORWARD_MULTIPLIER = 3
"""Training FLOPs = forward + backward ≈ 3 × forward (backward costs about twice the forward)."""


def n0(config: DuetConfig | None, patches_per_image: int, num_images: int = 1) -> int:
    """Visual tokens entering the LLM: V2V output per image (dominant incl. CLS + contextual), or all patches."""
    if config is not None and config.dominant is not None:
        return num_images * (config.dominant + config.contextual)
    return num_images * patches_per_image


def visual_tokens_per_layer(
    config: DuetConfig | None, num_layers: int, patches_per_image: int, num_images: int = 1
) -> list[int]:
    """Visual tokens present in each of the ``num_layers`` decoder layers, layer 1 first.

    Layers up to and including stage layer s_1 hold N0; layers after s_i hold ``int(N0·r_i)``. For video the
    ratio applies to the joint N0 of all frames (T2V ranks all frames together, paper.md §6 Q4).
    """
    if config is not None:
        config.validate_for(num_layers, patches_per_image)
    start = n0(config, patches_per_image, num_images)
    if config is None:
        return [start] * num_layers
    counts: list[int] = []
    count = start
    stages = dict(zip(config.layer_list, config.ratio_list, strict=True))
    for layer in range(1, num_layers + 1):
        counts.append(count)
        if layer in stages:
            count = int(start * stages[layer])
    return counts


def layer_averaged_budget(
    config: DuetConfig | None, num_layers: int, patches_per_image: int, num_images: int = 1
) -> float:
    """The paper's budget: visual tokens averaged over the decoder layers (e.g. 63.75 for "64")."""
    counts = visual_tokens_per_layer(config, num_layers, patches_per_image, num_images)
    return sum(counts) / num_layers


def reduction_percent(config: DuetConfig | None, num_layers: int, patches_per_image: int, num_images: int = 1) -> float:
    """How much smaller the layer-averaged budget is than ``num_images·patches_per_image``, in percent."""
    full = num_images * patches_per_image
    return 100.0 * (1.0 - layer_averaged_budget(config, num_layers, patches_per_image, num_images) / full)


def prefill_flops(
    config: DuetConfig | None,
    shape: ModelShape,
    patches_per_image: int,
    num_images: int = 1,
    text_tokens: int = DEFAULT_TEXT_TOKENS,
) -> int:
    """LLM-decoder prefill FLOPs: each layer costs `layer_prefill_flops` at (its visual tokens + text tokens).

    Left out, on purpose: the vision tower and projector (identical for every config except that V2V feeds
    fewer tokens to the projector), the LM head, and DUET's own side costs — the V2V CLS-row recomputation
    and the T2V query-row scoring, which are O(queries·L) per stage and negligible next to a decoder layer.
    """
    counts = visual_tokens_per_layer(config, shape.num_layers, patches_per_image, num_images)
    return sum(layer_prefill_flops(shape, n + text_tokens) for n in counts)


def training_flops(
    config: DuetConfig | None,
    shape: ModelShape,
    patches_per_image: int,
    num_images: int = 1,
    text_tokens: int = DEFAULT_TEXT_TOKENS,
) -> int:
    """Forward + backward of one sample: `TRAINING_FORWARD_MULTIPLIER` × the prefill (forward) FLOPs."""
    return TRAINING_FORWARD_MULTIPLIER * prefill_flops(config, shape, patches_per_image, num_images, text_tokens)


def predicted_speedup(
    config: DuetConfig | None,
    shape: ModelShape,
    patches_per_image: int,
    num_images: int = 1,
    text_tokens: int = DEFAULT_TEXT_TOKENS,
) -> float:
    """FLOPs(full) / FLOPs(config): the compute-bound upper bound on the prefill speedup."""
    full = prefill_flops(None, shape, patches_per_image, num_images, text_tokens)
    return full / prefill_flops(config, shape, patches_per_image, num_images, text_tokens)


@dataclass(frozen=True)
class BudgetReport:
    """Every number `python -m duet budget` prints for one configuration."""

    name: str
    config: DuetConfig | None
    model: str
    patches_per_image: int
    num_images: int
    text_tokens: int
    n0: int
    per_layer: tuple[int, ...]
    layer_averaged: float
    reduction_percent: float
    prefill_flops: int
    training_flops: int
    speedup: float
    cls_per_image: int = 0

    @property
    def input_tokens(self) -> int:
        """Visual positions the LLM receives without any compression: patches plus any CLS the host keeps."""
        return self.num_images * (self.patches_per_image + self.cls_per_image)

    @property
    def input_layer_averaged(self) -> float:
        """The layer-averaged budget counted as the host feeds the LLM (differs from the paper's only without V2V)."""
        per_layer = visual_tokens_per_layer(
            self.config, len(self.per_layer), self.patches_per_image + self.cls_per_image, self.num_images
        )
        return sum(per_layer) / len(per_layer)

    @property
    def input_reduction_percent(self) -> float:
        """How much smaller `input_layer_averaged` is than `input_tokens`, in percent."""
        return 100.0 * (1.0 - self.input_layer_averaged / self.input_tokens)


def build_report(
    name: str,
    config: DuetConfig | None,
    model: str,
    shape: ModelShape,
    patches_per_image: int,
    num_images: int = 1,
    text_tokens: int = DEFAULT_TEXT_TOKENS,
    cls_per_image: int = 0,
) -> BudgetReport:
    """Every number of one configuration; ``cls_per_image`` adds the input accounting (see `Preset.cls_per_image`)."""
    per_layer = visual_tokens_per_layer(config, shape.num_layers, patches_per_image, num_images)
    forward = prefill_flops(config, shape, patches_per_image, num_images, text_tokens)
    return BudgetReport(
        name=name,
        config=config,
        model=model,
        patches_per_image=patches_per_image,
        num_images=num_images,
        text_tokens=text_tokens,
        n0=n0(config, patches_per_image, num_images),
        per_layer=tuple(per_layer),
        layer_averaged=sum(per_layer) / len(per_layer),
        reduction_percent=reduction_percent(config, shape.num_layers, patches_per_image, num_images),
        prefill_flops=forward,
        training_flops=TRAINING_FORWARD_MULTIPLIER * forward,
        speedup=predicted_speedup(config, shape, patches_per_image, num_images, text_tokens),
        cls_per_image=cls_per_image,
    )


def _runs(counts: Sequence[int]) -> str:
    """Run-length form of the per-layer counts, e.g. ``307x16 153x8 0x8``."""
    parts: list[str] = []
    start = 0
    for i in range(1, len(counts) + 1):
        if i == len(counts) or counts[i] != counts[start]:
            parts.append(f"{counts[start]}x{i - start}")
            start = i
    return " ".join(parts)


def _exact(value: float) -> str:
    """Budgets are multiples of 1/num_layers: show them exactly (63.75, 64.0625), not rounded to 2 decimals."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _v2v_cell(config: DuetConfig | None) -> str:
    if config is None or config.dominant is None:
        return "off"
    if config.v2v_mode == "visionzip":
        return f"{config.dominant}/{config.contextual} visionzip"
    return f"{config.dominant}/{config.contextual}/w{config.cluster_width}"


def _t2v_cell(config: DuetConfig | None) -> str:
    if config is None or not config.layer_list:
        return "off"
    ratios = ",".join(f"{r:.3g}" for r in config.ratio_list)
    return f"@{','.join(map(str, config.layer_list))} r={ratios} q={config.query}"


def _rows(report: BudgetReport) -> list[str]:
    return [
        report.model,
        f"{report.num_images}x{report.patches_per_image}",
        _v2v_cell(report.config),
        _t2v_cell(report.config),
        str(report.n0),
        _runs(report.per_layer),
        _exact(report.layer_averaged),
        f"{report.reduction_percent:.1f}%",
        f"{report.prefill_flops / 1e12:.2f}",
        f"{report.training_flops / 1e12:.2f}",
        f"{report.speedup:.2f}x",
        f"{report.num_images}x{report.patches_per_image + report.cls_per_image}={report.input_tokens}",
        _exact(report.input_layer_averaged),
        f"{report.input_reduction_percent:.1f}%",
    ]


_ROW_LABELS = (
    "model",
    "images x patches",
    "V2V dom/ctx/width",
    "T2V stages",
    "N0 (into LLM)",
    "tokens per layer",
    "avg visual tokens",
    "reduction",
    "prefill TFLOPs",
    "train TFLOPs (3x)",
    "predicted speedup",
    "LLM input, no V2V",
    "avg, input count",
    "reduction vs input",
)


def format_table(reports: Sequence[BudgetReport]) -> str:
    """Plain-text table, one column per report, one row per quantity, columns padded to align."""
    header = ["", *(r.name for r in reports)]
    body = [[label, *cells] for label, *cells in zip(_ROW_LABELS, *(_rows(r) for r in reports), strict=True)]
    text_tokens = {r.text_tokens for r in reports}
    widths = [max(len(row[c]) for row in [header, *body]) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]]
    note = f"FLOPs: LLM decoder prefill with {'/'.join(map(str, sorted(text_tokens)))} text tokens; attention counts the full n^2 matrix."
    notes = [note]
    if any(r.cls_per_image for r in reports):
        notes.append(
            "Two accountings: 'reduction' is against images x patches (the papers' 2048 for a video), 'reduction vs "
            "input' against what the LLM receives uncompressed (Video-LLaVA keeps each frame's CLS: 8x257 = 2056)."
        )
    return "\n".join([*lines, *notes])
