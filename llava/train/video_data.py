"""Video-LLaVA's training data: LLaVA entries plus video entries, checked up front and loaded lazily.

A video entry is Video-LLaVA's (`videochatgpt_tune_.json`, `valley_.json`):

    {"id": "...", "video": "videochatgpt_tune/v_abc.mp4",
     "conversations": [{"from": "human", "value": "<video>\\nWhat happens?"}, {"from": "gpt", "value": "..."}]}

As in Video-LLaVA's `preprocess_multimodal`, a `<video>` marker becomes one `<image>` placeholder per frame (eight),
each filled by that frame's 257 features; the frames are `np.linspace`-sampled and transformed as at inference
(`llava.video`). The conversation is built by LLaVA's own `tokenize_conversation` with the video standing in for
one image, and the single placeholder is then widened to `num_frames` (labels IGNORE, no query), so label masking
is exactly the image path's. Image and text-only entries go through LLaVA's dataset unchanged; a batch mixes them.

One visual item per sample (an image or a video), as in LLaVA-1.5's templates; entries with several are reported by
the data check. The data check adds to LLaVA's: `missing_video`, `unreadable_video` (cannot be opened, no video
stream, or fewer frames than `num_frames` by its header), `video_placeholder_mismatch`, `multiple_videos`, and
`too_long` counting `num_frames` x the tokens one frame puts into the LLM. A video that passes the header check but
fails to decode mid-run is logged with its id and replaced by the next entry, as an unreadable image is.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from llava.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.data.preprocess import GPT, QuerySpansFn, tokenize_conversation
from llava.train.collator import DataCollatorForSupervisedDataset
from llava.train.dataset import IMAGE_LENGTH_PROXY, LazySupervisedDataset, UnreadableImageError
from llava.train.entry_checks import CheckSettings, DataProblem, check_record
from llava.train.records import image_files, record_id, word_count
from llava.video.frames import VideoReadError, video_frame_count
from llava.video.processing import LanguageBindVideoProcessor

logger = logging.getLogger(__name__)

DEFAULT_VIDEO_TOKEN = "<video>"


def video_files(record: dict[str, Any]) -> list[str]:
    """The entry's video paths: `[]` without `video`, one path for a string, the list as given."""
    video = record.get("video")
    if video is None:
        return []
    if isinstance(video, str):
        return [video]
    if isinstance(video, list) and all(isinstance(item, str) for item in video):
        return list(video)
    raise ValueError(f"`video` must be a path or a list of paths, got {video!r}")


def video_path(video_folder: str | None, name: str) -> Path:
    return Path(video_folder) / name if video_folder else Path(name)


def video_as_image_turns(turns: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The conversation with its `<video>` marker replaced by one `<image>` (widened to the frames after tokenizing)."""
    return [{**turn, "value": turn["value"].replace(DEFAULT_VIDEO_TOKEN, DEFAULT_IMAGE_TOKEN)} for turn in turns]


def widen_placeholder(values: list, fill: Any, sentinel_positions: list[int], frames: int) -> list:
    """`values` with each sentinel position repeated `frames` times (the repeats get `fill`)."""
    out: list = []
    for i, value in enumerate(values):
        out.append(value)
        if i in sentinel_positions:
            out.extend([fill] * (frames - 1))
    return out


@dataclass(frozen=True)
class VideoCheckSettings(CheckSettings):
    """LLaVA's check settings plus where videos live and what one video costs in LLM positions."""

    video_folder: str | None
    num_frames: int
    tokens_per_frame: int


def _video_problems(files: list[str], settings: VideoCheckSettings) -> list[tuple[str, str]]:
    problems = []
    for name in files:
        path = video_path(settings.video_folder, name)
        if not path.is_file():
            problems.append(("missing_video", f"video {str(path)!r} does not exist (check --video_folder)"))
            continue
        try:
            frames = video_frame_count(path)
        except VideoReadError as error:
            problems.append(("unreadable_video", str(error)))
            continue
        if frames is not None and frames < settings.num_frames:
            problems.append(
                ("unreadable_video", f"video {str(path)!r} has {frames} frames, fewer than {settings.num_frames}")
            )
    return problems


def _conversation_problem(record: dict[str, Any]) -> str | None:
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        return "`conversations` must be a non-empty list"
    for i, turn in enumerate(turns):
        if (
            not isinstance(turn, dict)
            or not isinstance(turn.get("from"), str)
            or not isinstance(turn.get("value"), str)
        ):
            return f"turn {i} must be an object with string `from` and `value`"
    return None


def check_video_record(record: Any, index: int, settings: VideoCheckSettings) -> list[DataProblem]:
    """LLaVA's checks for image and text entries; for video entries the video variants of the same checks."""
    if not isinstance(record, dict) or "video" not in record:
        return check_record(record, index, settings)
    sample_id = record_id(record, index)

    def problem(kind: str, message: str) -> DataProblem:
        return DataProblem(index, sample_id, kind, message)

    structure = _conversation_problem(record)
    if structure is not None:
        return [problem("bad_record", structure)]
    try:
        files = video_files(record)
        images = image_files(record)
    except ValueError as error:
        return [problem("bad_record", str(error))]
    found = [problem(kind, message) for kind, message in _video_problems(files, settings)]
    if len(files) != 1 or images:
        found.append(
            problem("multiple_videos", f"{len(files)} video(s) and {len(images)} image(s); one visual item per sample")
        )
    turns = record["conversations"]
    markers = sum(turn["value"].count(DEFAULT_VIDEO_TOKEN) for turn in turns)
    if markers != len(files) or any(DEFAULT_IMAGE_TOKEN in turn["value"] for turn in turns):
        found.append(
            problem(
                "video_placeholder_mismatch",
                f"{markers} {DEFAULT_VIDEO_TOKEN} marker(s) (and no <image>) needed for {len(files)} video(s)",
            )  # fmt: skip
        )
    if not any(turn["from"] == GPT and turn["value"].strip() for turn in turns):
        found.append(problem("no_assistant_turn", "no non-empty gpt turn: the sample would train on nothing"))
    if found:
        return found
    try:
        sample = tokenize_conversation(
            video_as_image_turns(turns), settings.tokenizer, settings.template, True, sample_id
        )
    except ValueError as error:
        return [problem("bad_conversation", str(error))]
    text = sum(1 for token in sample.input_ids if token != IMAGE_TOKEN_INDEX)
    visual = settings.num_frames * settings.tokens_per_frame
    if text + visual > settings.model_max_length:
        return [problem("too_long", f"{text + visual} positions ({text} text + {settings.num_frames}x"
                        f"{settings.tokens_per_frame} visual) exceed the context {settings.model_max_length}")]  # fmt: skip
    return []


def check_video_records(
    records: Sequence[Any], settings: VideoCheckSettings, indices: Sequence[int] | None = None
) -> list[DataProblem]:
    """`check_records` for mixed image / video / text data (ranks pass their shard as `indices`)."""
    chosen = range(len(records)) if indices is None else indices
    return [problem for i in chosen for problem in check_video_record(records[i], i, settings)]


class UnreadableVideoError(UnreadableImageError):
    """A video that could not be decoded at training time (the entry is replaced, as for an unreadable image)."""


class VideoSupervisedDataset(LazySupervisedDataset):
    """LLaVA's lazy dataset plus video entries: `images` is a list of (3, H, W) images and (C, T, H, W) videos."""

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        tokenizer: Any,
        template: str,
        image_processor: Any,
        image_folder: str | None,
        image_aspect_ratio: str,
        video_processor: LanguageBindVideoProcessor,
        video_folder: str | None,
        query_spans_fn: QuerySpansFn | None = None,
        indices: Sequence[int] | None = None,
    ) -> None:
        super().__init__(
            records, tokenizer, template, image_processor, image_folder, image_aspect_ratio, query_spans_fn, indices
        )
        self.video_processor = video_processor
        self.video_folder = video_folder

    def _visual_count(self, record: dict[str, Any]) -> int:
        return len(image_files(record)) + len(video_files(record))

    @property
    def lengths(self) -> list[int]:
        return [word_count(self.records[i]) + IMAGE_LENGTH_PROXY * self._visual_count(self.records[i])
                for i in self.indices]  # fmt: skip

    @property
    def modality_lengths(self) -> list[int]:
        """Words, negative for text-only entries; images and videos both count as multimodal (Video-LLaVA's rule)."""
        out = []
        for i in self.indices:
            words = max(word_count(self.records[i]), 1)
            out.append(words if self._visual_count(self.records[i]) else -words)
        return out

    def _item(self, position: int) -> dict[str, Any]:
        index = self.indices[position]
        record = self.records[index]
        files = video_files(record)
        if not files:
            item = super()._item(position)
            if "images" in item:
                item["images"] = list(item["images"].unbind(0))
            return item
        sample_id = record_id(record, index)
        path = video_path(self.video_folder, files[0])
        try:
            video = self.video_processor.load(path)
        except VideoReadError as error:
            raise UnreadableVideoError(f"entry id={sample_id}: {error}") from error
        sample = tokenize_conversation(
            video_as_image_turns(record["conversations"]), self.tokenizer, self.template, True, sample_id,
            self.query_spans_fn,
        )  # fmt: skip
        sentinels = [i for i, token in enumerate(sample.input_ids) if token == IMAGE_TOKEN_INDEX]
        frames = video.shape[1]
        item: dict[str, Any] = {
            "input_ids": torch.tensor(widen_placeholder(sample.input_ids, IMAGE_TOKEN_INDEX, sentinels, frames)),
            "labels": torch.tensor(widen_placeholder(sample.labels, IGNORE_INDEX, sentinels, frames)),
            "images": [video],
        }
        if sample.query_mask is not None:
            item["t2v_query_mask"] = torch.tensor(widen_placeholder(sample.query_mask, False, sentinels, frames))
        return item


@dataclass
class VideoDataCollator(DataCollatorForSupervisedDataset):
    """LLaVA's collator; `images` becomes one list of images and videos in placeholder (batch) order."""

    def __call__(self, instances: Sequence[dict[str, Any]]) -> dict[str, Any]:
        visual = [instance.pop("images", []) for instance in instances]
        batch = super().__call__(instances)
        flat = [item for items in visual for item in items]
        if flat:
            batch["images"] = flat
        return batch
