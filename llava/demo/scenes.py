"""Synthetic scenes for the demo: 1–3 coloured shapes on a light background, drawn reproducibly.

Every question the demo asks must have exactly one answer that can only be read off the picture, so a scene holds
pairwise-distinct shape types and pairwise-distinct colours, shapes never overlap, and no shape's centre sits near
the vertical midline (so "left or right" is never ambiguous). The scene is plain data (`Scene`) that the question
writer and the tests read; `render_scene` is the only place that turns it into pixels.
"""

import random
from dataclasses import asdict, dataclass

from PIL import Image, ImageDraw

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 40),
    "purple": (140, 60, 180),
    "orange": (245, 140, 30),
}
COUNT_WORDS: tuple[str, ...] = ("one", "two", "three")
MAX_SHAPES = len(COUNT_WORDS)
BACKGROUND: tuple[int, int, int] = (240, 240, 235)
# Half-sizes as fractions of the image side: 13 to 22 px at 224 px, so a shape spans 2 to 4 CLIP patches a side and
# nearly every patch it touches holds part of its outline, which is where its shape can be seen (a patch inside a
# larger shape is a flat colour). With half-sizes of 0.11-0.20 the tiny tower's held-out shape accuracy stayed near
# chance after the demo's tower budget; with these it learns shapes (llava/demo/tower.py). The shapes fill about 6 %
# of the patches, so most visual tokens are plain background: the redundancy DUET removes.
MIN_RADIUS_FRACTION = 0.06
MAX_RADIUS_FRACTION = 0.10
MIDLINE_MARGIN_FRACTION = 0.06
MAX_PLACEMENT_TRIES = 200


@dataclass(frozen=True)
class Shape:
    """One drawn shape: its kind, colour name, centre (x, y) and half-size `radius` in pixels, and its side.

    The centre lies inside the drawn shape for every kind (for the triangle it is the middle of its bounding box),
    which is what the tests sample to check the colour. `side` is "left" or "right" of the image's vertical
    midline; `sample_scene` never puts a centre close to it.
    """

    kind: str
    colour: str
    x: int
    y: int
    radius: int
    side: str


@dataclass(frozen=True)
class Scene:
    """A picture's content: its size, background colour, and shapes (left to right).

    The background is one fixed light colour: every patch that is not part of a shape then looks the same to the
    vision tower, which is what lets a tiny randomly initialised model learn within the demo's few hundred steps.
    """

    size: int
    background: tuple[int, int, int]
    shapes: tuple[Shape, ...]

    def to_dict(self) -> dict:
        """JSON-safe form, written next to the data so that answers can be audited against the drawing."""
        return {
            "size": self.size,
            "background": list(self.background),
            "shapes": [asdict(shape) for shape in self.shapes],
        }


def _overlaps(x: int, y: int, radius: int, placed: list[Shape], gap: int) -> bool:
    """Bounding squares (grown by `gap`) intersect: a cheap, conservative non-overlap test for all three kinds."""
    return any(abs(x - s.x) < radius + s.radius + gap and abs(y - s.y) < radius + s.radius + gap for s in placed)


def sample_scene(rng: random.Random, size: int) -> Scene:
    """Draw a scene's content: count, kinds and colours (all distinct), sizes and non-overlapping positions.

    Placement retries until every shape fits; with at most three shapes of at most a sixth of the image each,
    a few tries suffice, and the cap only guards against a bad `size`.
    """
    count = rng.randint(1, MAX_SHAPES)
    kinds = rng.sample(SHAPES, count)
    colours = rng.sample(list(COLOURS), count)
    margin = int(size * MIDLINE_MARGIN_FRACTION)
    placed: list[Shape] = []
    for kind, colour in zip(kinds, colours, strict=True):
        for _ in range(MAX_PLACEMENT_TRIES):
            radius = rng.randint(int(size * MIN_RADIUS_FRACTION), int(size * MAX_RADIUS_FRACTION))
            x = rng.randint(radius + 1, size - radius - 2)
            y = rng.randint(radius + 1, size - radius - 2)
            if abs(2 * x - size) >= 2 * margin and not _overlaps(x, y, radius, placed, gap=2):
                placed.append(Shape(kind, colour, x, y, radius, side="left" if 2 * x < size else "right"))
                break
        else:
            raise RuntimeError(f"could not place {count} shapes on a {size}px image; use a larger --image_size")
    return Scene(size=size, background=BACKGROUND, shapes=tuple(sorted(placed, key=lambda s: s.x)))


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, fill: tuple[int, int, int] | int) -> None:
    """Draw one shape's outline filled with `fill`: the single place that defines each kind's geometry."""
    x, y, r = shape.x, shape.y, shape.radius
    if shape.kind == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    elif shape.kind == "square":
        draw.rectangle((x - r, y - r, x + r, y + r), fill=fill)
    elif shape.kind == "triangle":
        draw.polygon([(x, y - r), (x - r, y + r), (x + r, y + r)], fill=fill)
    else:
        raise ValueError(f"unknown shape kind {shape.kind!r}; use one of {SHAPES}")


def render_scene(scene: Scene) -> Image.Image:
    """The RGB picture of `scene` (no anti-aliasing, so a shape's pixels carry exactly its colour)."""
    image = Image.new("RGB", (scene.size, scene.size), scene.background)
    draw = ImageDraw.Draw(image)
    for shape in scene.shapes:
        _draw_shape(draw, shape, COLOURS[shape.colour])
    return image


def render_object_mask(scene: Scene) -> Image.Image:
    """Which object each pixel shows: a greyscale image holding 0 for background and i + 1 for `scene.shapes[i]`.

    Drawn with the same geometry as `render_scene`, so it labels exactly the pixels the picture colours; the
    vision tower's pretraining (`llava.demo.tower`) turns it into per-patch targets.
    """
    mask = Image.new("L", (scene.size, scene.size), 0)
    draw = ImageDraw.Draw(mask)
    for index, shape in enumerate(scene.shapes):
        _draw_shape(draw, shape, index + 1)
    return mask
