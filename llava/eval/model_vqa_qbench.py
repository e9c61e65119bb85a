"""LLaVA's `model_vqa_qbench`: answer Q-Bench's LLVisionQA multiple-choice questions (low-level visual perception).

    python -m llava.eval.model_vqa_qbench --model-path liuhaotian/llava-v1.5-7b \\
        --image-folder playground/data/eval/qbench/images_llvisionqa/ \\
        --questions-file playground/data/eval/qbench/llvisionqa_dev.json \\
        --answers-file playground/data/eval/qbench/llvisionqa_dev_answers.jsonl --conv-mode llava_v1 --lang en

The question file is Q-Bench's JSON list of `{img_path, question, candidates, ...}`. The user turn is the question,
"Choose between one of the options as follows:" (`--lang zh`: Q-Bench's Chinese line, whose leading backslash is in
LLaVA's string too) and one "X. candidate" line per candidate, as LLaVA's script (removed from LLaVA in v1.6) built
it. As there, the image goes through the CLIP processor directly (resize + centre crop, no padding to a square) and
decoding is greedy up to 1024 new tokens. Each output line is the question item plus `response` (the Q-Bench
submission format), with `model_id` and `metadata` added.

Differences from LLaVA's script: one JSON object per line (LLaVA appended objects without newlines); an existing
answers file is resumed instead of appended to twice; the model is not forced into 8-bit (LLaVA passed
`load_8bit=True`); `--image-folder` is joined as a path.
"""

import argparse
import json
import os
import sys
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from duet.config import DuetConfig
from llava.conversation import SeparatorStyle, conv_templates
from llava.eval.answer_records import AnswersFileError, ResumableAnswers
from llava.eval.cli import (
    add_decoding_args,
    add_loading_and_duet_args,
    add_model_args,
    add_overwrite_arg,
    parse_eval_args,
)
from llava.eval.decoding import DecodingOptions, generate_texts
from llava.eval.images import load_rgb
from llava.eval.model_loading import load_eval_model
from llava.eval.prompting import build_prompt, image_token, needs_query_mask, query_mask
from llava.eval.run_llava import infer_conv_mode
from llava.eval.throughput import ThroughputMeter
from llava.mm_utils import tokenizer_image_token

OPTION_LETTERS = ("A.", "B.", "C.", "D.")
INSTRUCTIONS = {
    "en": "\nChoose between one of the options as follows:\n",
    "zh": "\\在下列选项中选择一个:\n",
}


def question_message(item: Mapping[str, Any], lang: str) -> str:
    """The user text for one LLVisionQA item: question, instruction, one "X. candidate\\n" line per candidate."""
    if lang not in INSTRUCTIONS:
        raise ValueError(f"--lang {lang!r}: Q-Bench has English (en) and Chinese (zh) questions only")
    message = item["question"] + INSTRUCTIONS[lang]
    for letter, candidate in zip(OPTION_LETTERS, item["candidates"], strict=False):
        message += f"{letter} {candidate}\n"
    return message


def item_key(item: Mapping[str, Any]) -> Hashable:
    """An item's identity for resuming: its `id` when the file has one, else its image and question."""
    return item["id"] if "id" in item else (item["img_path"], item["question"])


def read_qbench(path: str | Path) -> list[dict]:
    items = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise AnswersFileError(f"{path}: expected Q-Bench's JSON list of questions, got a {type(items).__name__}")
    keys: set[Hashable] = set()
    for number, item in enumerate(items, start=1):
        missing = [k for k in ("img_path", "question", "candidates") if k not in item]
        if missing:
            raise AnswersFileError(
                f"{path}: item {number} lacks {missing}; LLVisionQA items have img_path, question, candidates"
            )
        if item_key(item) in keys:
            raise AnswersFileError(f"{path}: item {number} repeats {item_key(item)!r}")
        keys.add(item_key(item))
    return items


def stop_string(conv_mode: str) -> str:
    conv = conv_templates[conv_mode]
    return conv.sep if conv.sep_style != SeparatorStyle.TWO else conv.sep2


def eval_model(args: argparse.Namespace, duet: DuetConfig | None) -> None:
    items = read_qbench(args.questions_file)
    loaded = load_eval_model(args, duet)
    model, tokenizer = loaded.model, loaded.tokenizer
    inferred = infer_conv_mode(loaded.name)
    if args.conv_mode is not None and args.conv_mode != inferred:
        print(f"[WARNING] the auto inferred conversation mode is {inferred}, while `--conv-mode` is {args.conv_mode}, "
              f"using {args.conv_mode}", file=sys.stderr)  # fmt: skip
    conv_mode = args.conv_mode or inferred
    stop = stop_string(conv_mode)
    salient = needs_query_mask(model)
    decoding = DecodingOptions.from_args(args)
    metadata = loaded.metadata()
    meter = ThroughputMeter()
    with ResumableAnswers(args.answers_file, loaded.name, metadata, args.overwrite, key=item_key) as writer:
        for item in tqdm([item for item in items if item_key(item) not in writer.done]):
            question = question_message(item, args.lang)
            prompt = build_prompt(conv_mode, image_token(model.config) + "\n" + question)
            image = load_rgb(os.path.join(args.image_folder, item["img_path"]))
            pixels = loaded.image_processor.preprocess(image, return_tensors="pt")["pixel_values"]
            texts, new_tokens = generate_texts(
                model,
                tokenizer,
                [tokenizer_image_token(prompt, tokenizer, return_tensors="pt")],
                pixels,
                [image.size],
                [query_mask(tokenizer, prompt, question)] if salient else None,
                decoding,
            )
            response = texts[0].strip()
            if stop and response.endswith(stop):
                response = response[: -len(stop)].strip()
            writer.write({**item, "response": response, "model_id": loaded.name, "metadata": metadata})
            meter.add(1, new_tokens)
    meter.log(model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--image-folder", "--image_folder", dest="image_folder", default="",
                        help="folder of the LLVisionQA images (img_path is relative to it)")  # fmt: skip
    parser.add_argument("--questions-file", "--question-file", "--questions_file", dest="questions_file",
                        required=True, help="llvisionqa_dev.json / llvisionqa_test.json (or the Chinese files)")  # fmt: skip
    parser.add_argument("--answers-file", "--answers_file", dest="answers_file", required=True)
    parser.add_argument(
        "--conv-mode", "--conv_mode", dest="conv_mode", default="llava_v1", choices=list(conv_templates)
    )
    parser.add_argument("--lang", default="en", choices=tuple(INSTRUCTIONS), help="question language")
    add_overwrite_arg(parser)
    add_decoding_args(parser, max_new_tokens=1024, temperature=0.0)
    add_loading_and_duet_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    eval_model(*parse_eval_args(build_parser(), argv))


if __name__ == "__main__":
    main()
