"""`python -m llava.train.check_data`: validate a LLaVA training file before spending GPU hours on it.

    python -m llava.train.check_data --data_path playground/data/llava_v1_5_mix665k.json \\
        --image_folder playground/data --model_name_or_path lmsys/vicuna-7b-v1.5 --version v1 \\
        --model_max_length 2048 [--image_tokens 576] [--on_error refuse|skip]

Prints every problem with the entry's id (see `llava.train.data_check` for the kinds) and a summary. Exit status:
1 when problems are found and `--on_error refuse` (the default), else 0. `train.py` runs the same check at startup
(`--on_bad_data`). `--image_tokens` is the number of visual tokens per image that reach the LLM: 576 for
LLaVA-1.5 at 336 px, N0 = dominant + contextual under DUET (e.g. 202 for `llava-1.5:128`).
"""

import argparse
import sys
from collections.abc import Sequence

from transformers import AutoTokenizer

from llava.train.data_check import CheckSettings, DataReport, check_records
from llava.train.records import VERSION_TEMPLATES, load_records, template_for_version

LLAVA_15_IMAGE_TOKENS = 576


def report_problems(report: DataReport, on_error: str, write=print) -> bool:
    """Print every problem and the summary; True when the run may go on (no problems, or `skip`)."""
    for problem in report.problems:
        write(str(problem))
    if not report.problems:
        write(f"data check: all {report.total} entries are valid")
        return True
    if on_error == "skip":
        write(f"data check: {report.summary()}; skipping them, {len(report.good_indices())} entries remain")
        return True
    write(
        f"data check: {report.summary()}. Fix the entries above, or pass --on_bad_data skip to train.py "
        "(--on_error skip here) to drop them."
    )
    return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m llava.train.check_data", description=__doc__.split("\n")[0])
    parser.add_argument("--data_path", required=True, help="LLaVA JSON list (or JSON lines).")
    parser.add_argument("--image_folder", default=None, help="Root that `image` paths are relative to.")
    parser.add_argument("--model_name_or_path", required=True, help="Folder or hub id of the tokenizer (the LLM).")
    parser.add_argument("--version", required=True, choices=sorted(VERSION_TEMPLATES), help="Conversation template.")
    parser.add_argument("--model_max_length", type=int, required=True, help="Context length, image features included.")
    parser.add_argument(
        "--image_tokens", type=int, default=LLAVA_15_IMAGE_TOKENS, help="Visual tokens per image that reach the LLM."
    )
    parser.add_argument("--on_error", choices=("refuse", "skip"), default="refuse")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    records = load_records(args.data_path)
    settings = CheckSettings(
        tokenizer=AutoTokenizer.from_pretrained(args.model_name_or_path),
        template=template_for_version(args.version),
        image_folder=args.image_folder,
        image_tokens=args.image_tokens,
        model_max_length=args.model_max_length,
    )
    report = DataReport(total=len(records), problems=check_records(records, settings))
    return 0 if report_problems(report, args.on_error) else 1


if __name__ == "__main__":
    sys.exit(main())
