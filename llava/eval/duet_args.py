"""DUET and model-loading flags shared by every eval entry point.

The authors' eval scripts pass PyramidDrop/VisionZip-style flags (`--dominant 300 --contextual 7 --cluster_width 4
--layer_list [16,24] --image_token_ratio_list [0.5,0.0] --compute_salient_tokens True`), so each flag is accepted
under the authors' spelling and ours. `duet_config_from_args` resolves them in one order — the preset first, then
every explicit flag overrides its field — and rejects combinations that would silently do nothing.

No DUET flag at all means "keep the checkpoint's own setting" (a DUET-trained checkpoint stores it in
`config.json`); `--duet-preset full` turns compression off.
"""

import argparse
import re
from dataclasses import replace
from typing import get_args

from duet.config import DuetConfig, PositionMode, QueryMode, V2VMode
from duet.presets import list_presets

# The authors' `--compute_salient_tokens False` ranks with every text token after the image (paper.md §2.2).
QUERY_WITHOUT_SALIENT = "instruction"
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")
_V2V_FLAGS = ("contextual", "cluster_width", "v2v_mode")
_QUERY_FLAGS = ("t2v_query", "t2v_position_ids", "compute_salient_tokens")
_FLAG_NAMES = {
    "duet_preset": "--duet-preset",
    "dominant": "--dominant",
    "contextual": "--contextual",
    "cluster_width": "--cluster-width",
    "v2v_mode": "--v2v-mode",
    "layer_list": "--layer-list",
    "image_token_ratio_list": "--image-token-ratio-list",
    "t2v_query": "--t2v-query",
    "t2v_position_ids": "--t2v-position-ids",
    "compute_salient_tokens": "--compute_salient_tokens",
}


class DuetArgsError(ValueError):
    """An inconsistent or malformed set of DUET flags; the message names the flags and the fix."""


def parse_bool(text: str) -> bool:
    """The authors' `True`/`False` string flags (argparse's `type=bool` would make "False" true)."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def parse_number_list(tokens: list[str] | None, kind: type, flag: str) -> tuple | None:
    """`["[16,24]"]`, `["16,24"]` or `["16", "24"]` (what nargs="+" collects) → `(16, 24)`; `["[]"]` → `()`."""
    if tokens is None:
        return None
    pieces = [p for p in re.split(r"[\s,\[\]()]+", " ".join(tokens)) if p]
    try:
        return tuple(kind(p) for p in pieces)
    except ValueError:
        example = "[16,24]" if kind is int else "[0.5,0.0]"
        raise DuetArgsError(f"{flag}: expected {kind.__name__}s such as {example}, got {' '.join(tokens)!r}") from None


def add_duet_args(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the DUET flag group (both spellings of each flag) to an eval CLI."""
    group = parser.add_argument_group(
        "DUET compression",
        "Preset first, then explicit flags override its fields. No DUET flag keeps the checkpoint's own setting; "
        "`--duet-preset full` turns compression off.",
    )
    group.add_argument(
        "--duet-preset", "--duet_preset", dest="duet_preset", metavar="NAME",
        help=f"a named setting: {', '.join(list_presets())}",
    )  # fmt: skip
    group.add_argument(
        "--dominant", "--dominant_num", dest="dominant", type=int,
        help="V2V dominant tokens per image, INCLUDING the CLS token (e.g. 300 / 170 / 72)",
    )  # fmt: skip
    group.add_argument(
        "--contextual", "--context_num", dest="contextual", type=int,
        help="V2V contextual (merged) tokens per image (e.g. 7 / 32 / 30)",
    )  # fmt: skip
    group.add_argument(
        "--cluster-width", "--cluster_width", dest="cluster_width", type=int, help="V2V cluster width (4)"
    )
    group.add_argument(
        "--v2v-mode", "--v2v_mode", dest="v2v_mode", choices=get_args(V2VMode),
        help="duet (attention-pooled anchors) or visionzip (uniform-stride targets)",
    )  # fmt: skip
    group.add_argument(
        "--layer-list", "--layer_list", dest="layer_list", nargs="+", metavar="LAYERS",
        help='1-indexed decoder layers after which T2V drops tokens: "[16,24]" or 16 24; "[]" turns T2V off',
    )  # fmt: skip
    group.add_argument(
        "--image-token-ratio-list", "--image_token_ratio_list", dest="image_token_ratio_list", nargs="+",
        metavar="RATIOS", help='fraction of N0 kept after each stage layer (not cumulative): "[0.5,0.0]"',
    )  # fmt: skip
    group.add_argument(
        "--t2v-query", "--t2v_query", dest="t2v_query", choices=get_args(QueryMode),
        help="T2V queries: salient question words + last token (paper), all instruction text, or the last token",
    )  # fmt: skip
    group.add_argument(
        "--t2v-position-ids", "--t2v_position_ids", dest="t2v_position_ids", choices=get_args(PositionMode),
        help="compact: re-index positions after a drop (PyramidDrop); keep: keep original positions (FastV)",
    )  # fmt: skip
    group.add_argument(
        "--compute_salient_tokens", "--compute-salient-tokens", dest="compute_salient_tokens", type=parse_bool,
        metavar="{True,False}", help="the authors' flag: True = --t2v-query salient, False = --t2v-query instruction",
    )  # fmt: skip
    return group


def add_model_loading_args(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Add the loader flags LLaVA's CLIs lack: attention kernel, offline vision-tower folder, device."""
    group = parser.add_argument_group("model loading")
    group.add_argument(
        "--attn-implementation", "--attn_implementation", dest="attn_implementation", default=None,
        help="sdpa (default), eager, or flash_attention_2",
    )  # fmt: skip
    group.add_argument(
        "--vision-tower", "--vision_tower", dest="vision_tower", default=None,
        help="load CLIP from this folder instead of the checkpoint's mm_vision_tower (machines without hub access)",
    )  # fmt: skip
    group.add_argument("--device", default=None, help="cuda, cuda:1, cpu, ... (default: cuda when available)")
    return group


def _given(args: argparse.Namespace) -> list[str]:
    return [name for name in _FLAG_NAMES if getattr(args, name, None) is not None]


def _query_mode(args: argparse.Namespace) -> QueryMode | None:
    """`--t2v-query`, or the authors' `--compute_salient_tokens`, which must agree when both are given."""
    salient = args.compute_salient_tokens
    if salient is None:
        return args.t2v_query
    if args.t2v_query is not None and (args.t2v_query == "salient") != salient:
        raise DuetArgsError(
            f"--compute_salient_tokens {salient} contradicts --t2v-query {args.t2v_query}. Fix: give only one of "
            "them (True means salient; False means instruction)."
        )
    return args.t2v_query or ("salient" if salient else QUERY_WITHOUT_SALIENT)


def _check_consistency(config: DuetConfig, given: list[str]) -> None:
    """Flags that cannot act on the resolved config are errors, so a typo'd experiment does not run as another."""
    if not config.v2v_enabled:
        idle = [_FLAG_NAMES[name] for name in _V2V_FLAGS if name in given]
        if idle:
            raise DuetArgsError(
                f"{', '.join(idle)}: only meaningful with V2V, which is off (no --dominant and the preset has none). "
                "Fix: add --dominant N (including CLS) or drop those flags."
            )
    if not config.t2v_enabled:
        idle = [_FLAG_NAMES[name] for name in _QUERY_FLAGS if name in given]
        if idle:
            raise DuetArgsError(
                f"{', '.join(idle)}: only meaningful with T2V dropping, which is off (no stage layers). Fix: add "
                '--layer-list "[16,24]" --image-token-ratio-list "[0.5,0.0]" or drop those flags.'
            )


def duet_config_from_args(args: argparse.Namespace) -> DuetConfig | None:
    """The DUET setting the flags describe, or None when no DUET flag was given (keep the checkpoint's own).

    Raises `DuetArgsError` for malformed lists, unknown presets, and contradictory or idle flags.
    """
    given = _given(args)
    if not given:
        return None
    try:
        base = DuetConfig.from_preset(args.duet_preset) if args.duet_preset is not None else DuetConfig()
    except ValueError as error:
        raise DuetArgsError(f"--duet-preset: {error}") from None
    layers = parse_number_list(args.layer_list, int, "--layer-list")
    ratios = parse_number_list(args.image_token_ratio_list, float, "--image-token-ratio-list")
    layer_list = layers if layers is not None else base.layer_list
    ratio_list = ratios if ratios is not None else base.ratio_list
    if len(layer_list) != len(ratio_list):
        raise DuetArgsError(
            f"{len(layer_list)} stage layer(s) {list(layer_list)} but {len(ratio_list)} ratio(s) {list(ratio_list)} "
            "(a list not given on the command line comes from the preset). Fix: give --layer-list and "
            '--image-token-ratio-list together, one ratio per layer, e.g. "[16,24]" and "[0.5,0.0]".'
        )
    overrides = {
        "dominant": args.dominant,
        "contextual": args.contextual,
        "cluster_width": args.cluster_width,
        "v2v_mode": args.v2v_mode,
        "layer_list": layer_list,
        "ratio_list": ratio_list,
        "query": _query_mode(args),
        "position_ids": args.t2v_position_ids,
    }
    try:
        config = replace(base, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as error:
        raise DuetArgsError(f"the DUET flags do not form a valid setting: {error}") from None
    _check_consistency(config, given)
    return config
