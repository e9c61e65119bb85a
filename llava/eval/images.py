"""Opening images the way LLaVA's generators do, so the pixels match theirs.

`model_vqa_loader` converts every image to RGB. ScienceQA and MMBench images are passed on unconverted, so an image
with transparency reaches CLIP's processor with its alpha and is composited over white there; converting to RGB first
would instead expose whatever colour sits under the transparent pixels. Palette and grey images are normalised to
RGB(A) so that `expand2square` can fill their padding with the mean colour.
"""

import base64
import io
from pathlib import Path
from urllib.request import urlopen

from PIL import Image

_ALPHA_MODES = ("RGBA", "LA", "PA")


def as_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """RGB for opaque images; RGBA (alpha kept) for images with transparency."""
    if image.mode == "RGB" or image.mode == "RGBA":
        return image
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def open_image(path: str | Path) -> Image.Image:
    """An image file, as LLaVA's ScienceQA generator sees it (see `as_rgb_or_rgba`)."""
    image = Image.open(path)
    image.load()  # reads the pixels and releases the file
    return as_rgb_or_rgba(image)


def image_from_base64(data: str) -> Image.Image:
    """MMBench's TSV cell: a base64-encoded image file."""
    image = Image.open(io.BytesIO(base64.b64decode(data)))
    image.load()
    return as_rgb_or_rgba(image)


def load_rgb(location: str) -> Image.Image:
    """`run_llava`'s image argument: a local path or an http(s) URL, converted to RGB as LLaVA does."""
    if location.startswith(("http://", "https://")):
        with urlopen(location) as response:
            data = response.read()
        return Image.open(io.BytesIO(data)).convert("RGB")
    return Image.open(location).convert("RGB")
