"""`python -m llava.train.check_data`: validate a LLaVA training file before spending GPU hours on it.

    python -m llava.train.check_data --data_path playground/data/llava_v1_5_mix665k.json \\
        --image_folder playground/data --model_name_or_path lmsys/vicuna-7b-v1.5 --version v1 \\
        --model_max_length 2048 [--image_tokens 576] [--on_bad_data truncate|refuse|skip]

Prints every problem with the entry's id (the kinds are listed in `llava.train.entry_checks`) and a summary, then
applies the same `--on_bad_data` policy as `train.py` (`llava.train.data_setup`; `--on_error` is accepted as an
alias). Exit status: 0 when a training run with that policy would start, 1 when it would stop, 2 when the file
itself cannot be read (the message names file, line and column). `--image_tokens` is the number of visual tokens
per image that reach the LLM: 576 for LLaVA-1.5 at 336 px, N0 = dominant + contextual under DUET (e.g. 202 for
`llava-1.5:128`). `--model_name_or_path` is a folder or a Hub id (only its tokenizer is read).
"""

import argparse
import sys
from collections.abc import Sequence

from transformers import AutoTokenizer

from llava.model.hub import ModelNotFoundError, resolve_model_folder
from llava.train.data_setup import BadDataError, report_problems
from llava.train.entry_checks import (
    BAD_DATA_POLICIES,
    DEFAULT_BAD_DATA_POLICY,
    CheckSettings,
    DataReport,
    check_records,
)
from llava.train.records import VERSION_TEMPLATES, DataFileError, load_records, template_for_version

LLAVA_15_IMAGE_TOKENS = 576


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m llava.train.check_data", description=__doc__.split("\n")[0])
    parser.add_argument("--data_path", required=True, help="LLaVA JSON list (or JSON lines, .jsonl).")
    parser.add_argument("--image_folder", default=None, help="Root that `image` paths are relative to.")
    parser.add_argument("--model_name_or_path", required=True, help="Folder or hub id of the tokenizer (the LLM).")
    parser.add_argument("--version", required=True, choices=sorted(VERSION_TEMPLATES), help="Conversation template.")
    parser.add_argument("--model_max_length", type=int, required=True, help="Context length, image features included.")
    parser.add_argument(
        "--image_tokens", type=int, default=LLAVA_15_IMAGE_TOKENS, help="Visual tokens per image that reach the LLM."
    )
    parser.add_argument(
        "--on_bad_data",
        "--on_error",
        dest="on_bad_data",
        choices=BAD_DATA_POLICIES,
        default=DEFAULT_BAD_DATA_POLICY,
        help="The policy train.py would apply (same flag there): truncate over-long entries and stop on anything "
        "else (default, LLaVA's behaviour), refuse any problem, or skip every bad entry.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        records = load_records(args.data_path)
        tokenizer_folder = resolve_model_folder(args.model_name_or_path, role="--model_name_or_path")
    except (DataFileError, ModelNotFoundError, FileNotFoundError) as error:
        print(f"data check: {error}", file=sys.stderr)
        return 2
    settings = CheckSettings(
        tokenizer=AutoTokenizer.from_pretrained(str(tokenizer_folder)),
        template=template_for_version(args.version),
        image_folder=args.image_folder,
        image_tokens=args.image_tokens,
        model_max_length=args.model_max_length,
    )
    report = DataReport(total=len(records), problems=check_records(records, settings))
    try:
        report_problems(report, args.on_bad_data)
    except BadDataError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
