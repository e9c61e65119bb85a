"""`DuetConfig`: the one object that describes a DUET compression setting.

It is serialised under the key ``duet`` of a model's ``config.json`` (see docs/design.md), so it must be
plain data, round-trip through JSON exactly, and fail loudly at construction rather than deep inside a
forward pass. Every error message names the offending field and says how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

from duet.presets import get_preset, list_presets

V2VMode = Literal["duet", "visionzip"]
QueryMode = Literal["salient", "instruction", "last"]
PositionMode = Literal["compact", "keep"]


def _fail(field: str, problem: str, fix: str) -> ValueError:
    return ValueError(f"DuetConfig.{field}: {problem}. Fix: {fix}.")


def _is_int(value: object) -> bool:
    """bool is an int subclass; `dominant=True` is a bug, not a count of one."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class DuetConfig:
    """Two-stage visual-token compression setting (paper.md §2).

    Stage A (V2V, before the projector): keep ``dominant`` tokens — the count INCLUDES the CLS token, as in
    the authors' code — plus ``contextual`` merged tokens. ``None`` turns V2V off.
    Stage B (T2V, inside the LLM): after each 1-indexed decoder layer ``layer_list[i]`` keep
    ``int(N0 * ratio_list[i])`` visual tokens, where N0 is the post-V2V count. Ratios are NOT cumulative and
    1.0 is implicitly prepended for the layers before the first stage.

    ``query`` picks the T2V query tokens (salient words + last token / all instruction tokens / the last
    token only); ``position_ids`` picks whether positions are re-indexed after a drop ("compact", as in
    PyramidDrop) or kept ("keep", as in FastV).
    """

    dominant: int | None = None
    contextual: int = 0
    cluster_width: int = 4
    v2v_mode: V2VMode = "duet"
    layer_list: tuple[int, ...] = ()
    ratio_list: tuple[float, ...] = ()
    query: QueryMode = "salient"
    position_ids: PositionMode = "compact"

    def __post_init__(self) -> None:
        # Accept lists (what JSON gives back) but store tuples so the config stays hashable and immutable.
        for name in ("layer_list", "ratio_list"):
            if not isinstance(getattr(self, name), tuple | list):
                raise _fail(name, f"must be a tuple or list, got {getattr(self, name)!r}", "wrap it, e.g. (16, 24)")
        object.__setattr__(self, "layer_list", tuple(self.layer_list))
        object.__setattr__(self, "ratio_list", tuple(float(r) if _is_int(r) else r for r in self.ratio_list))
        self._check_v2v()
        self._check_t2v()
        self._check_modes()

    def _check_v2v(self) -> None:
        if self.dominant is not None and (not _is_int(self.dominant) or self.dominant < 1):
            raise _fail(
                "dominant",
                f"must be an int >= 1 or None, got {self.dominant!r}",
                "pass the number of dominant tokens INCLUDING the CLS token (e.g. 300), or None to turn V2V off",
            )
        if not _is_int(self.contextual) or self.contextual < 0:
            raise _fail("contextual", f"must be an int >= 0, got {self.contextual!r}", "pass 0 or a positive count")
        if self.contextual > 0 and self.dominant is None:
            raise _fail(
                "contextual",
                f"is {self.contextual} but dominant is None (V2V off), so there is nothing to merge into",
                "set dominant (e.g. dominant=72, contextual=30) or set contextual=0",
            )
        if not _is_int(self.cluster_width) or self.cluster_width < 1:
            raise _fail(
                "cluster_width",
                f"must be an int >= 1, got {self.cluster_width!r}",
                "use 4 (every released DUET configuration)",
            )
        if self.v2v_mode not in get_args(V2VMode):
            raise _fail("v2v_mode", f"unknown mode {self.v2v_mode!r}", f"use one of {get_args(V2VMode)}")

    def _check_t2v(self) -> None:
        if len(self.layer_list) != len(self.ratio_list):
            raise _fail(
                "layer_list",
                f"has {len(self.layer_list)} entries but ratio_list has {len(self.ratio_list)}",
                "give exactly one ratio per stage layer",
            )
        for layer in self.layer_list:
            if not _is_int(layer) or layer < 1:
                raise _fail(
                    "layer_list",
                    f"entries are 1-indexed decoder layers and must be ints >= 1, got {self.layer_list!r}",
                    "use e.g. (16, 24) to drop after the 16th and 24th layers",
                )
        if any(b <= a for a, b in zip(self.layer_list, self.layer_list[1:], strict=False)):
            raise _fail(
                "layer_list",
                f"must be strictly increasing, got {self.layer_list!r}",
                "sort the stage layers and remove duplicates",
            )
        for ratio in self.ratio_list:
            if not isinstance(ratio, float) or not 0.0 <= ratio <= 1.0:
                raise _fail(
                    "ratio_list",
                    f"entries are fractions of N0 and must lie in [0, 1], got {self.ratio_list!r}",
                    "use values such as (0.5, 0.0)",
                )
        if any(b > a for a, b in zip(self.ratio_list, self.ratio_list[1:], strict=False)):
            raise _fail(
                "ratio_list",
                f"must be non-increasing, got {self.ratio_list!r} (ratios are fractions of N0, not cumulative, "
                "and a dropped token cannot come back)",
                "make each later ratio <= the one before",
            )

    def _check_modes(self) -> None:
        if self.query not in get_args(QueryMode):
            raise _fail("query", f"unknown query mode {self.query!r}", f"use one of {get_args(QueryMode)}")
        if self.position_ids not in get_args(PositionMode):
            raise _fail(
                "position_ids",
                f"unknown position mode {self.position_ids!r}",
                f"use one of {get_args(PositionMode)}",
            )

    def validate_for(self, num_layers: int, num_patches: int) -> None:
        """Check the config against a concrete model geometry (things the config alone cannot know).

        Scoring after stage layer ℓ uses the NEXT layer's q/k, so a drop after the last layer has nothing to
        score with and nothing to save: every stage layer must be < ``num_layers``. V2V keeps
        ``dominant - 1`` patches plus CLS and needs ``contextual`` anchors from the remaining patches.
        """
        for layer in self.layer_list:
            if layer >= num_layers:
                raise _fail(
                    "layer_list",
                    f"stage layer {layer} is not below the model's {num_layers} decoder layers (scoring uses the "
                    "next layer's q/k, and a drop after the last layer saves nothing)",
                    f"use stage layers in 1..{num_layers - 1}",
                )
        if self.dominant is not None and self.dominant - 1 + self.contextual > num_patches:
            raise _fail(
                "dominant",
                f"dominant - 1 + contextual = {self.dominant - 1 + self.contextual} exceeds the {num_patches} "
                "patches per image (dominant includes CLS; contextual anchors come from the other patches)",
                f"lower dominant/contextual so that dominant - 1 + contextual <= {num_patches}",
            )

    @property
    def v2v_enabled(self) -> bool:
        return self.dominant is not None

    @property
    def t2v_enabled(self) -> bool:
        return len(self.layer_list) > 0

    @property
    def is_full(self) -> bool:
        """No compression at all: the host may take its uncompressed fast path."""
        return not self.v2v_enabled and not self.t2v_enabled

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (tuples become lists) for the ``duet`` key of a model's config.json."""
        out = asdict(self)
        out["layer_list"] = list(self.layer_list)
        out["ratio_list"] = list(self.ratio_list)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DuetConfig:
        """Inverse of `to_dict`; unknown keys are an error so a typo in config.json is not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"DuetConfig.from_dict: unknown key(s) {unknown}. Fix: use only {sorted(known)}.")
        return cls(**dict(data))

    @classmethod
    def from_preset(cls, name: str) -> DuetConfig:
        return cls(**get_preset(name).fields)


def resolve(config_or_preset: DuetConfig | str | Mapping[str, Any] | None) -> DuetConfig | None:
    """Accept what a user or a config.json naturally holds: a config, a preset name, a dict, or None (off)."""
    if config_or_preset is None or isinstance(config_or_preset, DuetConfig):
        return config_or_preset
    if isinstance(config_or_preset, str):
        return DuetConfig.from_preset(config_or_preset)
    if isinstance(config_or_preset, Mapping):
        return DuetConfig.from_dict(config_or_preset)
    raise TypeError(
        f"cannot build a DuetConfig from {type(config_or_preset).__name__}. Fix: pass a DuetConfig, a preset "
        f"name ({', '.join(list_presets())}), a dict from DuetConfig.to_dict(), or None."
    )
