"""Draw a `TokenTrace` as a PNG strip: one panel per stage, PIL only (no plotting stack needed).

Kept patches are shown as they are, merged members get a coloured tint (they live on inside a contextual
token), and dropped patches are greyed and darkened, so a reader sees at a glance where each stage looked.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from duet.trace import TokenTrace, TraceStage

MARGIN = 8
TITLE_HEIGHT = 20
MERGED_TINT = (255, 140, 0)
MERGED_ALPHA = 0.45
DROPPED_BRIGHTNESS = 0.35


def _panel(image: Image.Image, grid: tuple[int, int], stage: TraceStage) -> Image.Image:
    rows, cols = grid
    width, height = image.size
    dimmed = ImageOps.grayscale(image).point(lambda v: int(v * DROPPED_BRIGHTNESS)).convert("RGB")
    tinted = Image.blend(image, Image.new("RGB", image.size, MERGED_TINT), MERGED_ALPHA)
    panel = dimmed.copy()
    for index in range(rows * cols):
        if index in stage.kept:
            source = image
        elif index in stage.merged:
            source = tinted
        else:
            continue
        row, col = divmod(index, cols)
        box = (col * width // cols, row * height // rows, (col + 1) * width // cols, (row + 1) * height // rows)
        panel.paste(source.crop(box), box[:2])
    return panel


def render_trace(trace: TokenTrace, out_path: str | Path) -> Image.Image:
    """Write the strip to ``out_path`` (PNG) and return it.

    Size: ``len(stages)·(W + MARGIN) + MARGIN`` by ``TITLE_HEIGHT + H + MARGIN`` for a W×H trace image.
    """
    image = trace.image.convert("RGB")
    width, height = image.size
    count = len(trace.stages)
    canvas = Image.new("RGB", (count * (width + MARGIN) + MARGIN, TITLE_HEIGHT + height + MARGIN), "white")
    draw = ImageDraw.Draw(canvas)
    for i, stage in enumerate(trace.stages):
        left = MARGIN + i * (width + MARGIN)
        draw.text((left, 4), stage.name, fill="black")
        canvas.paste(_panel(image, trace.grid, stage), (left, TITLE_HEIGHT))
    canvas.save(out_path, format="PNG")
    return canvas
