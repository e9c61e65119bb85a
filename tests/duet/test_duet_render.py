"""TokenTrace construction and the PIL renderer, on a synthetic trace."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from duet.render import MARGIN, TITLE_HEIGHT, render_trace
from duet.trace import TokenTrace, TraceStage, stage_from_assignment
from duet.v2v import v2v_compress


def _image() -> Image.Image:
    """A 4x4-patch, 32x32 image with a distinct colour per patch, so every patch can be checked."""
    image = Image.new("RGB", (32, 32))
    for index in range(16):
        row, col = divmod(index, 4)
        image.paste((40 + 12 * index, 200 - 8 * index, 90), (col * 8, row * 8, col * 8 + 8, row * 8 + 8))
    return image


def _rgb(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    value = image.getpixel((x, y))
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def test_render_writes_one_panel_per_stage(tmp_path: Path) -> None:
    image = _image()
    trace = TokenTrace(
        image=image,
        grid=(4, 4),
        stages=[
            TraceStage("V2V (N0=6)", kept=frozenset({0, 5, 10}), merged=frozenset({1, 2})),
            TraceStage("after layer 16 (1)", kept=frozenset({5})),
        ],
    )
    out = tmp_path / "trace.png"
    render_trace(trace, out)
    assert out.exists()
    rendered = Image.open(out).convert("RGB")
    assert rendered.size == (2 * (32 + MARGIN) + MARGIN, TITLE_HEIGHT + 32 + MARGIN)

    def pixel(panel: int, index: int) -> tuple[int, int, int]:
        row, col = divmod(index, 4)
        return _rgb(rendered, MARGIN + panel * (32 + MARGIN) + col * 8 + 4, TITLE_HEIGHT + row * 8 + 4)

    original = [_rgb(image, (i % 4) * 8 + 4, (i // 4) * 8 + 4) for i in range(16)]
    assert pixel(0, 0) == original[0] and pixel(0, 10) == original[10]  # kept: untouched
    assert pixel(0, 1) != original[1] and pixel(0, 1) != pixel(0, 3)  # merged: tinted, not dimmed
    assert pixel(0, 3) != original[3] and sum(pixel(0, 3)) < sum(original[3])  # dropped: darker
    assert pixel(1, 5) == original[5] and pixel(1, 0) != original[0]  # the second stage dropped patch 0
    title_strip = rendered.crop((MARGIN, 0, MARGIN + 32, TITLE_HEIGHT))
    darkest, _ = title_strip.convert("L").getextrema()
    assert isinstance(darkest, int) and darkest < 128  # the title text was drawn


def test_trace_rejects_bad_indices() -> None:
    with pytest.raises(ValueError, match="outside the 2x2 grid"):
        TokenTrace(image=Image.new("RGB", (4, 4)), grid=(2, 2), stages=[TraceStage("s", kept=frozenset({4}))])
    with pytest.raises(ValueError, match="both kept and merged"):
        TraceStage("s", kept=frozenset({1}), merged=frozenset({1}))


def test_stage_from_v2v_assignment() -> None:
    hidden = torch.tensor([[t, 10.0 * t] for t in range(9)]).unsqueeze(0)
    scores = torch.tensor([[0.1, 0.9, 0.3, 0.8, 0.05, 0.5, 0.4, 0.2]])
    keys = torch.tensor([[1, 1], [0, 1], [1, 1], [0, 1], [1, 1], [1, 0.1], [1, 0], [0.1, 1], [1, 0.2]]).unsqueeze(0)
    result = v2v_compress(hidden, scores, keys, dominant=3, contextual=2, cluster_width=2)
    assignment, source = result.assignment[0].tolist(), result.source_index[0].tolist()
    # Slots: 0 CLS, 1 token 2, 2 token 4, 3 anchor 6 (+8), 4 anchor 3 (+7). Patch index = token - 1.
    assert stage_from_assignment("V2V", assignment, source, range(5)) == TraceStage(
        "V2V", kept=frozenset({1, 3, 5, 2}), merged=frozenset({7, 6})
    )
    assert stage_from_assignment("later", assignment, source, [0, 4]) == TraceStage(
        "later", kept=frozenset({2}), merged=frozenset({6})
    )
