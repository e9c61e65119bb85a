"""Video-LLaVA's training flags (`videollava/train/train.py`), on top of LLaVA's (`llava.train.arguments`).

Video-LLaVA's scripts pass, besides LLaVA's flags: `--image_tower LanguageBind/LanguageBind_Image`,
`--video_tower LanguageBind/LanguageBind_Video_merge`, `--video_folder`, several `--data_path` files at once
(`llava_image_tune_.json videochatgpt_tune_.json nlp_tune.json`), `--num_frames 8` and
`--tokenizer_model_max_length 3072`. The last one is the context the *spliced* sequence may fill (a video alone is
8 x 257 = 2056 positions), while `--model_max_length` (2048) stays the tokenizer's text limit; the data check
refuses samples longer than the former. `--temporal_attention` (default: the tower's, i.e. on) is the video tower's
switch, recorded in the saved `config.json`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from transformers import HfArgumentParser

from llava.train.arguments import DataArguments, DuetArguments, ModelArguments, TrainingArguments


@dataclass
class VideoModelArguments(ModelArguments):
    image_tower: str | None = field(default=None, metadata={"help": "LanguageBind/LanguageBind_Image (or a folder)."})
    video_tower: str | None = field(
        default=None, metadata={"help": "LanguageBind/LanguageBind_Video_merge (or a folder)."}
    )
    temporal_attention: bool | None = field(
        default=None, metadata={"help": "Run the video tower's temporal attention (default: when it has it)."}
    )


@dataclass
class VideoDataArguments(DataArguments):
    data_path: list[str] | None = field(
        default=None, metadata={"help": "One or more JSON lists (image, video and text-only entries mixed)."}
    )
    video_folder: str | None = field(default=None, metadata={"help": "Root that `video` paths are relative to."})
    num_frames: int = field(default=8, metadata={"help": "Frames per video; must equal the video tower's num_frames."})
    video_backend: Literal["pyav", "decord"] = field(default="pyav", metadata={"help": "Video decoder."})


@dataclass
class VideoTrainingArguments(TrainingArguments):
    tokenizer_model_max_length: int | None = field(
        default=None,
        metadata={"help": "Context of the spliced sequence (Video-LLaVA: 3072); default --model_max_length."},
    )

    @property
    def context_length(self) -> int:
        """Positions a sample may fill with its visual tokens spliced in."""
        return self.tokenizer_model_max_length or self.model_max_length


VIDEO_ARGUMENTS = (VideoModelArguments, VideoDataArguments, VideoTrainingArguments, DuetArguments)


def parse_video_arguments(
    argv: Sequence[str] | None = None,
) -> tuple[VideoModelArguments, VideoDataArguments, VideoTrainingArguments, DuetArguments]:
    """Parse `argv` (default `sys.argv[1:]`); unknown flags are an error."""
    parser = HfArgumentParser(VIDEO_ARGUMENTS)
    return tuple(parser.parse_args_into_dataclasses(args=list(argv) if argv is not None else None))
