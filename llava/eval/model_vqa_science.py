"""LLaVA's `model_vqa_science`: answer ScienceQA (`llava_test_CQM-A.json`), one question at a time.

    python -m llava.eval.model_vqa_science --model-path liuhaotian/llava-v1.5-7b \\
        --question-file playground/data/eval/scienceqa/llava_test_CQM-A.json \\
        --image-folder playground/data/eval/scienceqa/images/test --answers-file answers/sqa.jsonl \\
        --single-pred-prompt --temperature 0 --conv-mode vicuna_v1 --duet-preset llava-1.5:64

The question file is a JSON list of `{id, conversations: [{value: question}, ...], image?}`. Questions without an
image are answered text-only. The record's `prompt` starts with "<image>\\n" exactly when the question had an image:
`eval_science_qa` derives IMG-Accuracy from that. The salient query words come from the question value (without
the `--single-pred-prompt` suffix, which is not part of the question file).
"""

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from duet.config import DuetConfig
from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.eval.answer_records import ResumableAnswers, answer_record
from llava.eval.chunking import get_chunk
from llava.eval.cli import (
    add_decoding_args,
    add_loading_and_duet_args,
    add_model_args,
    add_prompt_args,
    add_question_args,
    parse_eval_args,
)
from llava.eval.decoding import DecodingOptions, generate_texts
from llava.eval.images import open_image
from llava.eval.model_loading import load_eval_model
from llava.eval.prompting import (
    SINGLE_PRED_PROMPT,
    build_prompt,
    image_token,
    needs_query_mask,
    query_mask,
)
from llava.eval.throughput import ThroughputMeter
from llava.mm_utils import process_images, tokenizer_image_token


def read_sqa_questions(path: str | Path) -> list[dict]:
    """The LLaVA-format ScienceQA file: a JSON list whose items have `id` and a first conversation turn."""
    questions = json.loads(Path(path).expanduser().read_text())
    if not isinstance(questions, list):
        raise ValueError(f"{path}: expected a JSON list of questions (LLaVA's llava_test_CQM-A.json format)")
    for line in questions:
        if "id" not in line or not line.get("conversations"):
            raise ValueError(f"{path}: every question needs `id` and `conversations`; got keys {sorted(line)}")
    return questions


def eval_model(args: argparse.Namespace, duet: DuetConfig | None) -> None:
    questions = get_chunk(read_sqa_questions(args.question_file), args.num_chunks, args.chunk_idx)
    loaded = load_eval_model(args, duet)
    model, tokenizer = loaded.model, loaded.tokenizer
    salient = needs_query_mask(model)
    options = DecodingOptions.from_args(args)
    metadata = loaded.metadata()
    meter = ThroughputMeter()
    with ResumableAnswers(args.answers_file, loaded.name, metadata, overwrite=args.overwrite) as writer:
        for line in tqdm([line for line in questions if line["id"] not in writer.done]):
            question = line["conversations"][0]["value"].replace(DEFAULT_IMAGE_TOKEN, "").strip()
            message, record_prompt = question, question
            images, image_sizes = None, None
            if "image" in line:
                image = open_image(os.path.join(args.image_folder, line["image"]))
                images = process_images([image], loaded.image_processor, model.config)
                image_sizes = [image.size]
                message = image_token(model.config) + "\n" + message
                record_prompt = DEFAULT_IMAGE_TOKEN + "\n" + record_prompt
            if args.single_pred_prompt:
                message += "\n" + SINGLE_PRED_PROMPT
                record_prompt += "\n" + SINGLE_PRED_PROMPT
            prompt = build_prompt(args.conv_mode, message)
            texts, new_tokens = generate_texts(
                model,
                tokenizer,
                [tokenizer_image_token(prompt, tokenizer, return_tensors="pt")],
                images,
                image_sizes,
                [query_mask(tokenizer, prompt, question)] if salient else None,
                options,
            )
            writer.write(answer_record(line["id"], record_prompt, texts[0], loaded.name, metadata))
            meter.add(1, new_tokens)
    meter.log(model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    add_question_args(parser, "LLaVA's ScienceQA JSON (llava_test_CQM-A.json)")
    add_prompt_args(parser)
    add_decoding_args(parser, max_new_tokens=1024)
    parser.add_argument("--single-pred-prompt", "--single_pred_prompt", dest="single_pred_prompt",
                        action="store_true", help=f'append "{SINGLE_PRED_PROMPT}"')  # fmt: skip
    add_loading_and_duet_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    eval_model(*parse_eval_args(build_parser(), argv))


if __name__ == "__main__":
    main()
