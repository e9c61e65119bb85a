"""The named configurations: the paper's budgets and the peer methods re-expressed with the same machinery.

This module is pure data (plain dicts of `DuetConfig` field values) so that `duet.config` can build configs
from it without an import cycle. Every preset here is checked against `duet.budget` by the test-suite, so a
description that quotes a budget is a claim the tests hold us to.

Budget convention (paper.md §2.3): the number of visual tokens present in the LLM averaged over its decoder
layers, with ``int()`` rounding of ``N0·r`` at each stage, ``N0`` = tokens entering the LLM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

_PAPER_SCHEDULE: dict[str, Any] = {"layer_list": (16, 24), "ratio_list": (0.5, 0.0)}


def _geometric(lam: float, stages: int) -> tuple[float, ...]:
    """PyramidDrop keeps λ, λ², λ³, … of the LLM-input tokens after successive stages (ratios relative to N0)."""
    return tuple(lam**k for k in range(1, stages + 1))


@dataclass(frozen=True)
class Preset:
    """One named configuration.

    ``fields`` are `DuetConfig` keyword arguments; ``patches_per_image`` / ``num_images`` / ``model`` are the
    geometry the preset was designed for, so `python -m duet budget` can account a video preset over its 8
    frames without the user having to remember that. ``cls_per_image`` is what the host feeds the LLM per image
    besides its patches when V2V is off: Video-LLaVA keeps each frame's CLS token (8 x 257 = 2056 positions), while
    the papers count 8 x 256 = 2048; the budget table shows both accountings.
    """

    name: str
    description: str
    fields: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    patches_per_image: int = 576
    num_images: int = 1
    model: str = "llava-1.5-7b"
    cls_per_image: int = 0


def _preset(name: str, description: str, fields: dict[str, Any], **geometry: Any) -> Preset:
    return Preset(name=name, description=description, fields=MappingProxyType(dict(fields)), **geometry)


_VIDEO = {"patches_per_image": 256, "num_images": 8, "model": "video-llava-7b", "cls_per_image": 1}

_TABLE: tuple[Preset, ...] = (
    _preset("full", "No compression: all 576 visual tokens in every decoder layer (the baseline).", {}),
    # Paper presets (paper.md §2.3 / §4): V2V dominant (incl. CLS) / contextual / cluster width, then T2V
    # halving after layer 16 and dropping everything after layer 24.
    _preset(
        "llava-1.5:192",
        "DUET 192: V2V 300/7/w4 -> N0=307, T2V halves after layer 16, drops all after 24 (avg 191.75).",
        {"dominant": 300, "contextual": 7, "cluster_width": 4, **_PAPER_SCHEDULE},
    ),
    _preset(
        "llava-1.5:128",
        "DUET 128: V2V 170/32/w4 -> N0=202, T2V halves after layer 16, drops all after 24 (avg 126.25).",
        {"dominant": 170, "contextual": 32, "cluster_width": 4, **_PAPER_SCHEDULE},
    ),
    _preset(
        "llava-1.5:64",
        "DUET 64: V2V 72/30/w4 -> N0=102, T2V halves after layer 16, drops all after 24 (avg 63.75).",
        {"dominant": 72, "contextual": 30, "cluster_width": 4, **_PAPER_SCHEDULE},
    ),
    # Video-LLaVA: per-frame V2V, T2V over the joint N0 of all 8 frames. The released video path queries with
    # the last instruction token (original PyramidDrop), hence query="last".
    _preset(
        "video-llava:960",
        "DUET video 960: per-frame V2V 160/32/w4 (8 frames -> N0=1536), T2V 16/24 @ 0.5/0.0 (avg 960.0).",
        {"dominant": 160, "contextual": 32, "cluster_width": 4, "query": "last", **_PAPER_SCHEDULE},
        **_VIDEO,
    ),
    _preset(
        "video-llava:136",
        "DUET video '136': per-frame V2V 20/7/w4 (N0=216), T2V 16/24 @ 0.5/0.0; gives avg 135.0, not the "
        "published 136 (the authors' exact setting is not in their repo).",
        {"dominant": 20, "contextual": 7, "cluster_width": 4, "query": "last", **_PAPER_SCHEDULE},
        **_VIDEO,
    ),
    # Original VisionZip (uniform-stride targets over all remaining tokens, all merged), no in-LLM dropping.
    _preset(
        "visionzip:192",
        "VisionZip 192: 162 dominant (incl. CLS) + 30 contextual, stride targets, no T2V (192 in every layer).",
        {"dominant": 162, "contextual": 30, "v2v_mode": "visionzip"},
    ),
    _preset(
        "visionzip:128",
        "VisionZip 128: 108 dominant (incl. CLS) + 20 contextual, stride targets, no T2V (128 in every layer).",
        {"dominant": 108, "contextual": 20, "v2v_mode": "visionzip"},
    ),
    _preset(
        "visionzip:64",
        "VisionZip 64: 54 dominant (incl. CLS) + 10 contextual, stride targets, no T2V (64 in every layer).",
        {"dominant": 54, "contextual": 10, "v2v_mode": "visionzip"},
    ),
    # PyramidDrop: no V2V; keep λ, λ², λ³ of 576 after three stage layers, ranked by the last instruction
    # token. (8,16,24) cannot go below an average of 144 (layers 1-8 always hold 576), so 128 and 64 use the
    # (2,8,16) schedule the PyramidDrop maintainer suggests for low budgets (Cooperx521/PyramidDrop#29).
    _preset(
        "pdrop:192",
        "PyramidDrop 192: no V2V, drops after layers 8/16/24 keeping 0.254^k of 576 (146/37/9), query=last (avg 192.0).",
        {"layer_list": (8, 16, 24), "ratio_list": _geometric(0.254, 3), "query": "last"},
    ),
    _preset(
        "pdrop:128",
        "PyramidDrop 128: no V2V, drops after layers 2/8/16 keeping 0.421^k of 576 (242/102/42), query=last (avg 127.875).",
        {"layer_list": (2, 8, 16), "ratio_list": _geometric(0.421, 3), "query": "last"},
    ),
    _preset(
        "pdrop:64",
        "PyramidDrop 64: no V2V, drops after layers 2/8/16 keeping 0.193^k of 576 (111/21/4), query=last (avg 64.0625).",
        {"layer_list": (2, 8, 16), "ratio_list": _geometric(0.193, 3), "query": "last"},
    ),
    # FastV: one drop after layer 2 keeping k of 576, k chosen so (2·576 + 30·k)/32 is nearest the target.
    # FastV ranks by attention averaged over ALL tokens; "instruction" (all post-image text) is the nearest
    # query mode this machinery has.
    _preset(
        "fastv:192",
        "FastV 192: no V2V, keeps 166 of 576 after layer 2, query=instruction (FastV averages all tokens) (avg 191.625).",
        {"layer_list": (2,), "ratio_list": (166 / 576,), "query": "instruction"},
    ),
    _preset(
        "fastv:128",
        "FastV 128: no V2V, keeps 98 of 576 after layer 2, query=instruction (FastV averages all tokens) (avg 127.875).",
        {"layer_list": (2,), "ratio_list": (98 / 576,), "query": "instruction"},
    ),
    _preset(
        "fastv:64",
        "FastV 64: no V2V, keeps 30 of 576 after layer 2, query=instruction (FastV averages all tokens) (avg 64.125).",
        {"layer_list": (2,), "ratio_list": (30 / 576,), "query": "instruction"},
    ),
)

PRESETS: MappingProxyType[str, Preset] = MappingProxyType({p.name: p for p in _TABLE})


def list_presets() -> list[str]:
    """Preset names in table order (baseline, paper, video, then peers)."""
    return list(PRESETS)


def get_preset(name: str) -> Preset:
    """Look a preset up by name; the error lists the valid names so a typo is a one-step fix."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown DUET preset {name!r}. Fix: use one of {', '.join(PRESETS)}.") from None
