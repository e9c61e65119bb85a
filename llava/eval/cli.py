"""Argument groups every generator shares, with LLaVA's flag names and defaults.

LLaVA's generators each declare the same flags by hand (and drift: `--conv-mode` defaults differ); here they are
declared once. `parse_eval_args` also resolves the DUET flags, so a bad combination is a usage error (exit 2)
before any model is loaded.
"""

import argparse
from collections.abc import Sequence

from duet.config import DuetConfig
from llava.conversation import conv_templates
from llava.eval.duet_args import DuetArgsError, add_duet_args, add_model_loading_args, duet_config_from_args
from llava.mm_utils import SUPPORTED_ASPECT_RATIOS

DEFAULT_CONV_MODE = "llava_v1"


def add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-path", required=True, help="LLaVA checkpoint folder (or LoRA/projector folder)")
    parser.add_argument("--model-base", default=None, help="base LLM for LoRA or projector-only checkpoints")


def add_question_args(parser: argparse.ArgumentParser, question_file_help: str) -> None:
    parser.add_argument("--image-folder", default="", help="folder the question file's image paths are relative to")
    parser.add_argument("--question-file", required=True, help=question_file_help)
    parser.add_argument("--answers-file", required=True, help="where to write the answer records (JSON lines)")
    parser.add_argument("--num-chunks", type=int, default=1, help="split the questions into this many chunks")
    parser.add_argument("--chunk-idx", type=int, default=0, help="answer only this chunk (0-based)")
    add_overwrite_arg(parser)


def add_overwrite_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--overwrite", action="store_true",
        help="start the answers file over; by default an existing file written under the same model and setting is "
        "resumed (questions it already answers are skipped), and one written under another setting is an error",
    )  # fmt: skip


def add_prompt_args(parser: argparse.ArgumentParser, conv_mode_default: str | None = DEFAULT_CONV_MODE) -> None:
    parser.add_argument(
        "--conv-mode", "--conv_mode", dest="conv_mode", default=conv_mode_default, choices=list(conv_templates),
        help="conversation template (the scripts pass vicuna_v1)",
    )  # fmt: skip
    parser.add_argument(
        "--image-aspect-ratio", "--image_aspect_ratio", dest="image_aspect_ratio", choices=SUPPORTED_ASPECT_RATIOS,
        default=None, help="override the checkpoint's image_aspect_ratio (pad for LLaVA-1.5)",
    )  # fmt: skip


def add_decoding_args(parser: argparse.ArgumentParser, max_new_tokens: int, temperature: float = 0.2) -> None:
    """LLaVA's decoding flags; its defaults sample at 0.2, the paper's scripts pass `--temperature 0` (greedy)."""
    parser.add_argument("--temperature", type=float, default=temperature, help="0 = greedy")
    parser.add_argument("--top_p", "--top-p", dest="top_p", type=float, default=None)
    parser.add_argument("--num_beams", "--num-beams", dest="num_beams", type=int, default=1)
    parser.add_argument("--max_new_tokens", "--max-new-tokens", dest="max_new_tokens", type=int, default=max_new_tokens)


def add_loading_and_duet_args(parser: argparse.ArgumentParser) -> None:
    add_model_loading_args(parser)
    add_duet_args(parser)


def parse_eval_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, DuetConfig | None]:
    """Parse, then resolve the DUET flags (None = keep the checkpoint's setting); bad flags exit with usage."""
    args = parser.parse_args(argv)
    try:
        return args, duet_config_from_args(args)
    except DuetArgsError as error:
        parser.error(str(error))
