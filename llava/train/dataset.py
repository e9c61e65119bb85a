"""LLaVA's lazy supervised dataset: one entry is read, its image loaded and its conversation tokenized on access.

Entries reach this class only after the startup data check (`llava.train.entry_checks`). That check reads image
headers only, so an image whose pixel data is truncated or corrupt can still fail to decode here, hours into a run;
such an entry is logged with its id and replaced by the next entry (at most `MAX_REPLACEMENTS` times in a row)
rather than killing the job. Differences from LLaVA's `LazySupervisedDataset`:

- a text-only entry yields no image tensor at all (LLaVA yields a zero image that the model then ignores); the
  model keeps ZeRO-3's "every rank runs the vision tower" rule on its own;
- `t2v_query_mask` is added when DUET's T2V queries are the salient words of each human turn (`query_spans_fn`);
- labels come from character offsets (`llava.data.preprocess`), never from token-count arithmetic;
- an entry longer than `max_positions` (kept by `--on_bad_data truncate`) is cut where LLaVA cuts it, at
  `model_max_length` positions of the spliced sequence (`entry_checks.truncation_point`), here before splicing.
"""

import logging
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from llava.data.preprocess import QuerySpansFn, tokenize_conversation
from llava.mm_utils import process_images
from llava.train.entry_checks import truncation_point
from llava.train.records import image_files, image_path, record_id, word_count

logger = logging.getLogger(__name__)

# LLaVA's `lengths` add this many "words" per image so that grouping by length sees images as long.
IMAGE_LENGTH_PROXY = 128
# Consecutive undecodable entries tolerated before the run stops: more than a few means a broken image folder.
MAX_REPLACEMENTS = 8


class UnreadableImageError(OSError):
    """An entry's image could not be decoded (PIL raises OSError, SyntaxError or ValueError for corrupt files)."""


class LazySupervisedDataset(Dataset):
    """`records[i]` → `input_ids`, `labels`, optionally `images` (n, 3, H, W) and `t2v_query_mask`."""

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        tokenizer: PreTrainedTokenizerBase,
        template: str,
        image_processor: Any,
        image_folder: str | None,
        image_aspect_ratio: str,
        query_spans_fn: QuerySpansFn | None = None,
        indices: Sequence[int] | None = None,
        max_positions: int | None = None,
        image_tokens: int = 0,
    ) -> None:
        """`max_positions` / `image_tokens`: cut over-long entries as LLaVA does (the context length, and the visual
        tokens one image puts into the LLM); None leaves every entry whole."""
        self.records = records
        self.indices = list(range(len(records))) if indices is None else list(indices)
        self.tokenizer = tokenizer
        self.template = template
        self.image_processor = image_processor
        self.image_folder = image_folder
        self.image_config = SimpleNamespace(image_aspect_ratio=image_aspect_ratio)
        self.query_spans_fn = query_spans_fn
        self.max_positions = max_positions
        self.image_tokens = image_tokens

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def lengths(self) -> list[int]:
        """LLaVA's length proxy: words plus 128 per image."""
        return [
            word_count(self.records[i]) + IMAGE_LENGTH_PROXY * len(image_files(self.records[i])) for i in self.indices
        ]

    @property
    def modality_lengths(self) -> list[int]:
        """Words, negative for text-only entries (LLaVA's sign convention for `group_by_modality_length`)."""
        signed = []
        for i in self.indices:
            words = max(word_count(self.records[i]), 1)
            signed.append(words if image_files(self.records[i]) else -words)
        return signed

    def _load_images(self, files: list[str], sample_id: str) -> torch.Tensor:
        images = []
        for name in files:
            path = image_path(self.image_folder, name)
            try:
                with Image.open(path) as image:
                    images.append(image.convert("RGB"))
            except (OSError, SyntaxError, ValueError) as error:
                raise UnreadableImageError(f"entry id={sample_id}: cannot read image {str(path)!r}: {error}") from error
        pixels = process_images(images, self.image_processor, self.image_config)
        return pixels if isinstance(pixels, torch.Tensor) else torch.stack(pixels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        for attempt in range(MAX_REPLACEMENTS + 1):
            position = (i + attempt) % len(self.indices)
            try:
                return self._item(position)
            except UnreadableImageError as error:
                logger.error("%s; training on the next entry instead (this entry is skipped).", error)
        raise RuntimeError(
            f"{MAX_REPLACEMENTS + 1} consecutive entries from position {i} have unreadable images; check "
            "--image_folder and run `python -m llava.train.check_data` on the file."
        )

    def _item(self, position: int) -> dict[str, torch.Tensor]:
        index = self.indices[position]
        record = self.records[index]
        sample_id = record_id(record, index)
        files = image_files(record)
        sample = tokenize_conversation(
            record["conversations"], self.tokenizer, self.template, bool(files), sample_id, self.query_spans_fn
        )
        keep = len(sample.input_ids)
        if self.max_positions is not None:
            keep = truncation_point(sample.input_ids, sample.labels, self.image_tokens, self.max_positions)
            if keep is None:
                raise ValueError(
                    f"entry id={sample_id} is longer than {self.max_positions} positions and cannot be cut there; the "
                    "startup data check should have stopped it (run `python -m llava.train.check_data` on the file)."
                )
        item = {
            "input_ids": torch.tensor(sample.input_ids[:keep], dtype=torch.long),
            "labels": torch.tensor(sample.labels[:keep], dtype=torch.long),
        }
        if sample.query_mask is not None:
            item["t2v_query_mask"] = torch.tensor(sample.query_mask[:keep], dtype=torch.bool)
        if files:
            item["images"] = self._load_images(files, sample_id)
        return item
