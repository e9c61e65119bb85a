"""LLaVA's multimodal helpers: image padding/processing, `<image>`-aware tokenization, model naming, stopping.

These keep LLaVA's names and semantics because eval scripts and user code call them directly; the behaviour
differences from LLaVA are listed per function.
"""

from collections.abc import Sequence
from typing import Any, Literal

import torch
from PIL import Image
from transformers import PreTrainedTokenizerBase, StoppingCriteria

from llava.constants import DEFAULT_IMAGE_TOKEN, IMAGE_TOKEN_INDEX

SUPPORTED_ASPECT_RATIOS: tuple[str, ...] = ("pad", "square")


def expand2square(pil_img: Image.Image, background_color: tuple[int, ...]) -> Image.Image:
    """Pad an image to a square, centred, so the CLIP centre crop keeps all of it (`--image_aspect_ratio pad`).

    The offset of the pasted image is `(long - short) // 2`; a square image is returned as is (same object).
    """
    width, height = pil_img.size
    if width == height:
        return pil_img
    side = max(width, height)
    result = Image.new(pil_img.mode, (side, side), background_color)
    result.paste(pil_img, ((side - width) // 2, (side - height) // 2))
    return result


def process_images(
    images: Sequence[Image.Image], image_processor: Any, model_cfg: Any
) -> torch.Tensor | list[torch.Tensor]:
    """Preprocess images as the checkpoint was trained: `model_cfg.image_aspect_ratio` is `"pad"` or `"square"`.

    `"pad"` pads each image to a square filled with the processor's mean colour (so padding normalises to 0)
    before the processor's resize and centre crop; `"square"` lets the processor crop. LLaVA treats any other
    value as `"square"`; here it is an error, because `anyres` (LLaVA-1.6) is not implemented and silently
    cropping would change the model's input. A missing attribute means `"square"`, LLaVA's default.
    Returns a `(N, 3, H, W)` tensor, or a list of `(3, H, W)` tensors if the shapes differ.
    """
    aspect_ratio = getattr(model_cfg, "image_aspect_ratio", "square")
    if aspect_ratio not in SUPPORTED_ASPECT_RATIOS:
        raise ValueError(f"image_aspect_ratio={aspect_ratio!r} is not supported; use one of {SUPPORTED_ASPECT_RATIOS}")
    if aspect_ratio == "square":
        return image_processor(list(images), return_tensors="pt")["pixel_values"]
    background = tuple(int(x * 255) for x in image_processor.image_mean)
    processed = [
        image_processor.preprocess(expand2square(image, background), return_tensors="pt")["pixel_values"][0]
        for image in images
    ]
    if all(x.shape == processed[0].shape for x in processed):
        return torch.stack(processed, dim=0)
    return processed


def tokenizer_image_token(
    prompt: str,
    tokenizer: PreTrainedTokenizerBase,
    image_token_index: int = IMAGE_TOKEN_INDEX,
    return_tensors: Literal["pt"] | None = None,
) -> list[int] | torch.Tensor:
    """Tokenize `prompt` with each `"<image>"` replaced by the single id `image_token_index`.

    LLaVA's semantics: the text between `<image>`s is tokenized chunk by chunk (so no piece spans an image and each
    chunk is tokenized as if it started a text); when the tokenizer adds a BOS, only the first chunk keeps it
    and the first token of every later chunk (its BOS) is dropped.
    """
    chunks = [tokenizer(chunk).input_ids for chunk in prompt.split(DEFAULT_IMAGE_TOKEN)]
    drop = 1 if chunks[0] and chunks[0][0] == tokenizer.bos_token_id else 0
    input_ids: list[int] = chunks[0][:1] if drop else []
    for i, chunk in enumerate(chunks):
        if i > 0:
            input_ids.append(image_token_index)
        input_ids.extend(chunk[drop:])
    if return_tensors is None:
        return input_ids
    if return_tensors == "pt":
        return torch.tensor(input_ids, dtype=torch.long)
    raise ValueError(f"Unsupported tensor type: {return_tensors}")


def tokenizer_image_token_with_offsets(
    prompt: str, tokenizer: PreTrainedTokenizerBase
) -> tuple[list[int], list[tuple[int, int]]]:
    """`tokenizer_image_token`'s chunking, keeping each token's character span in `prompt`.

    Tokens the tokenizer adds (BOS) have an empty span; the image sentinel spans `"<image>"`.
    """
    if not tokenizer.is_fast:
        raise TypeError("offset mappings (label masking, salient queries) need a fast (tokenizers-backed) tokenizer")
    input_ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    chunk_start = 0
    drop = 0
    for i, chunk in enumerate(prompt.split(DEFAULT_IMAGE_TOKEN)):
        encoding = tokenizer(chunk, return_offsets_mapping=True)
        chunk_ids, chunk_offsets = encoding["input_ids"], encoding["offset_mapping"]
        if i == 0:
            drop = 1 if chunk_ids and chunk_ids[0] == tokenizer.bos_token_id else 0
            input_ids += chunk_ids[:drop]
            offsets += [(0, 0)] * drop
        else:
            input_ids.append(IMAGE_TOKEN_INDEX)
            offsets.append((chunk_start - len(DEFAULT_IMAGE_TOKEN), chunk_start))
        input_ids += chunk_ids[drop:]
        offsets += [(start + chunk_start, end + chunk_start) for start, end in chunk_offsets[drop:]]
        chunk_start += len(chunk) + len(DEFAULT_IMAGE_TOKEN)
    return input_ids, offsets


def get_model_name_from_path(model_path: str) -> str:
    """The name LLaVA's loader dispatches on: the last path component, or `parent_checkpoint-N` for a checkpoint.

    Loading logic tests substrings of this name (`llava`, `lora`, `plain`), which is why checkpoint folders
    borrow their run folder's name.
    """
    parts = model_path.strip("/").split("/")
    if parts[-1].startswith("checkpoint-") and len(parts) > 1:
        return f"{parts[-2]}_{parts[-1]}"
    return parts[-1]


class KeywordsStoppingCriteria(StoppingCriteria):
    """Stop a sequence once its generated text ends with a keyword id sequence or contains a keyword.

    Unlike LLaVA's (which returns one bool that is True only when *every* row stopped, and may inspect the
    prompt before anything is generated), this returns transformers 5's per-row `BoolTensor` of shape `(batch,)`
    and only looks at generated tokens: `input_ids` given here fixes where generation starts. When `generate`
    runs from `inputs_embeds` only, the ids it passes hold generated tokens alone: pass `input_ids[:, :0]`.
    """

    def __init__(self, keywords: Sequence[str], tokenizer: PreTrainedTokenizerBase, input_ids: torch.Tensor) -> None:
        self.keywords = list(keywords)
        self.tokenizer = tokenizer
        self.start_len = input_ids.shape[1]
        self.keyword_ids: list[torch.Tensor] = []
        for keyword in self.keywords:
            ids = tokenizer(keyword).input_ids
            if len(ids) > 1 and ids[0] == tokenizer.bos_token_id:
                ids = ids[1:]
            self.keyword_ids.append(torch.tensor(ids, dtype=torch.long))
        self.max_keyword_len = max((len(ids) for ids in self.keyword_ids), default=0)

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor | None, **kwargs: Any
    ) -> torch.BoolTensor:
        generated = input_ids[:, self.start_len :]
        done = [self._row_done(row) for row in generated]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    def _row_done(self, generated: torch.Tensor) -> bool:
        """Whether one row's generated ids end with a keyword's ids, or their decoded tail contains a keyword.

        The text check catches keywords that tokenize differently mid-text (no leading `"▁"`).
        """
        for ids in self.keyword_ids:
            if 0 < len(ids) <= len(generated) and torch.equal(generated[-len(ids) :].cpu(), ids):
                return True
        if len(generated) == 0:
            return False
        tail = self.tokenizer.decode(generated[-self.max_keyword_len :], skip_special_tokens=True)
        return any(keyword in tail for keyword in self.keywords)
