"""``python -m duet``: budget tables, the preset list, and a per-stage picture of what one model kept.

``budget`` and ``presets`` are pure arithmetic over `duet.presets` (no model, no torch import). ``show``
needs a model, so it finds a host through the ``duet.hosts`` entry-point group instead of importing one:
`duet` stays free of any model package.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points

from duet.budget import DEFAULT_TEXT_TOKENS, BudgetReport, build_report, format_table
from duet.config import DuetConfig
from duet.flops import MODEL_SHAPES, get_shape
from duet.presets import PRESETS, get_preset

DEFAULT_BUDGET_PRESETS = ("full", "llava-1.5:192", "llava-1.5:128", "llava-1.5:64")
HOST_GROUP = "duet.hosts"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m duet", description="DUET-VLM visual-token compression tools.")
    sub = parser.add_subparsers(dest="command", required=True)

    budget = sub.add_parser("budget", help="token budgets, FLOPs and predicted speedups of presets, side by side")
    budget.add_argument(
        "--preset", action="append", choices=list(PRESETS), help="repeatable; default: full + llava-1.5"
    )
    budget.add_argument("--model", choices=list(MODEL_SHAPES), help="decoder shape (default: the preset's own)")
    budget.add_argument("--text-tokens", type=int, default=DEFAULT_TEXT_TOKENS, help="text tokens in the prefill")
    budget.add_argument("--patches", type=int, help="patches per image (default: the preset's own, 576 for LLaVA-1.5)")
    budget.add_argument("--images", type=int, help="images or frames per sample (default: the preset's own)")

    sub.add_parser("presets", help="list the presets with one-line descriptions")

    show = sub.add_parser("show", help="draw which image patches survive each stage for one question")
    show.add_argument("--model-path", required=True)
    show.add_argument("--model-base")
    show.add_argument("--image", required=True)
    show.add_argument("--question", required=True)
    show.add_argument("--preset", default="llava-1.5:64", choices=list(PRESETS))
    show.add_argument("--out", default="duet_trace.png")
    show.add_argument(
        "--host", help=f"entry point name in the {HOST_GROUP!r} group (default: the only one, or 'llava')"
    )
    return parser


def _report(name: str, args: argparse.Namespace) -> BudgetReport:
    preset = get_preset(name)
    model = args.model or preset.model
    return build_report(
        name=name,
        config=DuetConfig.from_preset(name),
        model=model,
        shape=get_shape(model),
        patches_per_image=args.patches or preset.patches_per_image,
        num_images=args.images or preset.num_images,
        text_tokens=args.text_tokens,
        cls_per_image=preset.cls_per_image,
    )


def _budget(args: argparse.Namespace) -> int:
    names = args.preset or list(DEFAULT_BUDGET_PRESETS)
    print(format_table([_report(name, args) for name in names]))
    return 0


def _presets() -> int:
    width = max(map(len, PRESETS))
    for preset in PRESETS.values():
        print(f"{preset.name.ljust(width)}  {preset.description}")
    return 0


def _pick_host(name: str | None) -> EntryPoint | None:
    hosts = {ep.name: ep for ep in entry_points(group=HOST_GROUP)}
    if name is not None:
        return hosts.get(name)
    if len(hosts) == 1:
        return next(iter(hosts.values()))
    return hosts.get("llava")


def _show(args: argparse.Namespace) -> int:
    entry = _pick_host(args.host)
    if entry is None:
        installed = sorted(ep.name for ep in entry_points(group=HOST_GROUP)) or "none"
        print(
            f"error: no DUET host found in the {HOST_GROUP!r} entry-point group (installed: {installed}). "
            "Fix: install a model package that registers one, e.g. `pip install -e .` in this repository "
            "(llava = llava.duet_host:LlavaDuetHost), or pick one with --host.",
            file=sys.stderr,
        )
        return 2
    from duet.render import render_trace  # PIL is only needed here

    trace = entry.load()().trace(args.model_path, args.model_base, args.image, args.question, args.preset)
    render_trace(trace, args.out)
    print(f"wrote {args.out} ({len(trace.stages)} stages: {', '.join(s.name for s in trace.stages)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "budget":
        return _budget(args)
    if args.command == "presets":
        return _presets()
    return _show(args)
