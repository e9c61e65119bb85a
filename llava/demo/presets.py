"""The paper's DUET presets scaled to the demo's tiny model, with their budgets computed by `duet.budget`.

The paper compresses 576 patches in a 32-layer LLM with stages after layers 16 and 24 (ratios 0.5, 0.0): half
the layers see all N0 tokens, a quarter see N0/2, a quarter none, so the layer-averaged budget is 0.625·N0.
The tiny LLM (configs/tiny/llama.json) has 4 layers and the 224 px tower 256 patches; stages after layers 2 and
3 with the same ratios keep exactly those proportions, and N0 is scaled by 256/576 with the paper's split
between dominant and contextual tokens. The result is the same *reduction* of visual tokens:

    python -m llava.demo.presets            # budget table: tiny presets next to the paper's
    python -m llava.demo.presets --train_flags 192   # the DUET flags of llava/train/train.py for one preset
    python -m llava.demo.presets --describe 89       # "DUET 64: 89% fewer visual tokens (avg 28 of 256)"

| preset | paper: V2V → N0, avg, reduction   | demo: V2V → N0, tokens per layer, avg, reduction |
| ------ | --------------------------------- | ------------------------------------------------ |
| 192    | 300/7 → 307, avg 191.75, 66.7 %   | 133/3 → 136, 136 136 68 0, avg 85, 66.8 %        |
| 128    | 170/32 → 202, avg 126.25, 78.1 %  | 76/14 → 90, 90 90 45 0, avg 56.25, 78.0 %        |
| 64     | 72/30 → 102, avg 63.75, 88.9 %    | 32/13 → 45, 45 45 22 0, avg 28, 89.1 %           |

T2V queries are all instruction text after the image (`query="instruction"`), what the authors' released
training scripts ran, so the demo's result does not depend on which POS model `duet.salient` finds installed.
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from duet.budget import build_report, format_table, layer_averaged_budget, reduction_percent
from duet.config import DuetConfig
from duet.flops import ModelShape, get_shape

TINY_LLAMA_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tiny" / "llama.json"
DEMO_PATCHES = 256
"""Patches per image of `configs/tiny/clip_vision_224.json` (224 px / patch 14 = 16 × 16)."""

_SCHEDULE = {"layer_list": (2, 3), "ratio_list": (0.5, 0.0), "cluster_width": 4, "query": "instruction"}
DEMO_PRESETS: dict[str, DuetConfig] = {
    "192": DuetConfig(dominant=133, contextual=3, **_SCHEDULE),
    "128": DuetConfig(dominant=76, contextual=14, **_SCHEDULE),
    "64": DuetConfig(dominant=32, contextual=13, **_SCHEDULE),
}
PAPER_PRESETS: dict[str, str] = {name: f"llava-1.5:{name}" for name in DEMO_PRESETS}
PAPER_TRAINED: dict[str, tuple[float, float]] = {"192": (99.7, 26.0), "128": (99.1, 31.0), "64": (97.6, 36.0)}
"""The paper's LLaVA-1.5-7B trained under each preset (both stages): average accuracy retained relative to the
576-token baseline (%) and training time cut (%), from the abstract and poster (paper.md §3.2; the poster's bar
gives 95.4 % retained at 64)."""
REDUCTION_NAMES: dict[str, str] = {"67": "192", "78": "128", "89": "64"}
"""The settings are also known by their reductions (67 / 78 / 89 % fewer visual tokens)."""


def canonical_name(name: str) -> str:
    """The canonical preset name (192, 128 or 64) from it or from its reduction (67, 78, 89; a trailing % is fine)."""
    key = name.strip().rstrip("%")
    key = REDUCTION_NAMES.get(key, key)
    if key not in DEMO_PRESETS:
        raise ValueError(
            f"unknown DUET preset {name!r}; use one of {sorted(DEMO_PRESETS)} or {sorted(REDUCTION_NAMES)}"
        )
    return key


def describe(name: str) -> str:
    """A one-line label for tables, e.g. "DUET 192: 67% fewer visual tokens (avg 85 of 256)"."""
    key = canonical_name(name)
    config = DEMO_PRESETS[key]
    layers = tiny_shape().num_layers
    average = layer_averaged_budget(config, layers, DEMO_PATCHES)
    reduction = reduction_percent(config, layers, DEMO_PATCHES)
    return f"DUET {key}: {reduction:.0f}% fewer visual tokens (avg {average:g} of {DEMO_PATCHES})"


def tiny_shape() -> ModelShape:
    """The decoder shape of configs/tiny/llama.json, for FLOPs accounting.

    Read as plain JSON rather than through `llava.testing.tiny_llava`, which imports transformers: the demo script
    calls this module several times and each call should take a fraction of a second.
    """
    llama = json.loads(TINY_LLAMA_CONFIG.read_text())
    heads = llama["num_attention_heads"]
    return ModelShape(
        num_layers=llama["num_hidden_layers"],
        hidden=llama["hidden_size"],
        intermediate=llama["intermediate_size"],
        num_heads=heads,
        num_kv_heads=llama.get("num_key_value_heads", heads),
        head_dim=llama["hidden_size"] // heads,
    )


def budget_table() -> str:
    """`duet.budget`'s side-by-side table: the tiny presets, then the paper's presets they scale."""
    tiny = tiny_shape()
    reports = [build_report("demo full", None, "tiny", tiny, DEMO_PATCHES)]
    reports += [
        build_report(f"demo {name}", config, "tiny", tiny, DEMO_PATCHES) for name, config in DEMO_PRESETS.items()
    ]
    paper = get_shape("llava-1.5-7b")
    reports += [
        build_report(f"paper {name}", DuetConfig.from_preset(preset), "llava-1.5-7b", paper, 576)
        for name, preset in PAPER_PRESETS.items()
    ]
    return format_table(reports)


def train_flags(config: DuetConfig) -> list[str]:
    """The DUET arguments of `llava/train/train.py` that reproduce `config`."""
    return [
        "--dominant_num", str(config.dominant),
        "--context_num", str(config.contextual),
        "--cluster_width", str(config.cluster_width),
        "--layer_list", ",".join(map(str, config.layer_list)),
        "--image_token_ratio_list", ",".join(f"{r:g}" for r in config.ratio_list),
        "--t2v_query", config.query,
        "--t2v_position_ids", config.position_ids,
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The demo's tiny-scale DUET presets and their token budgets.")
    parser.add_argument(
        "--train_flags", metavar="PRESET", help="print train.py's DUET flags for 192|128|64 (or 67|78|89)"
    )
    parser.add_argument("--canonical", metavar="PRESET", help="print the canonical name (192|128|64) of a preset")
    parser.add_argument("--describe", metavar="PRESET", help="print a one-line label with the preset's budget")
    args = parser.parse_args(argv)
    if args.train_flags:
        print(" ".join(train_flags(DEMO_PRESETS[canonical_name(args.train_flags)])))
    elif args.canonical:
        print(canonical_name(args.canonical))
    elif args.describe:
        print(describe(args.describe))
    else:
        print(budget_table())


if __name__ == "__main__":
    main()
