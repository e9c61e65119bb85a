"""`TokenTrace`: which image patches survive each compression stage, for `python -m duet show`.

The host (e.g. ``llava.duet_host``) runs one real forward pass and fills this in; `duet.render` draws it.
Keeping it plain data (patch index sets, no tensors) lets the renderer and its tests stay model-free.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass(frozen=True)
class TraceStage:
    """One panel: patches that survive as themselves (``kept``) and patches merged into a survivor (``merged``).

    Indices are 0-based raster patch indices (CLS excluded). A patch in neither set was discarded by V2V or
    dropped by T2V. ``kept`` and ``merged`` are disjoint.
    """

    name: str
    kept: frozenset[int]
    merged: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        overlap = self.kept & self.merged
        if overlap:
            raise ValueError(f"TraceStage {self.name!r}: patches {sorted(overlap)[:5]} are both kept and merged.")


@dataclass(frozen=True)
class TokenTrace:
    """The preprocessed square image the vision tower saw, its patch grid (rows, cols), and the stages."""

    image: Image
    grid: tuple[int, int]
    stages: list[TraceStage]

    def __post_init__(self) -> None:
        total = self.grid[0] * self.grid[1]
        for stage in self.stages:
            bad = [i for i in stage.kept | stage.merged if not 0 <= i < total]
            if bad:
                raise ValueError(
                    f"TokenTrace stage {stage.name!r}: patch indices {sorted(bad)[:5]} are outside the "
                    f"{self.grid[0]}x{self.grid[1]} grid."
                )


def stage_from_assignment(
    name: str,
    assignment: Sequence[int],
    source_index: Sequence[int],
    surviving_slots: Iterable[int],
) -> TraceStage:
    """Build a stage from one image's `V2VResult` fields and the output slots that are still present.

    ``assignment`` (N+1 entries, CLS first) maps each original token to its V2V output slot or -1;
    ``source_index`` gives each slot's own original token. A patch whose slot survives is ``kept`` if it is
    that slot's own token (a dominant token or an anchor) and ``merged`` otherwise. Without V2V, pass the
    identity (``assignment = source_index = range(N+1)``).
    """
    alive = set(surviving_slots)
    kept: set[int] = set()
    merged: set[int] = set()
    for token, slot in enumerate(assignment):
        if token == 0 or slot < 0 or slot not in alive:
            continue
        (kept if source_index[slot] == token else merged).add(token - 1)
    return TraceStage(name=name, kept=frozenset(kept), merged=frozenset(merged))
