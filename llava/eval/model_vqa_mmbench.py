"""LLaVA's `model_vqa_mmbench`: answer an MMBench TSV (base64 images in the `image` column).

    python -m llava.eval.model_vqa_mmbench --model-path liuhaotian/llava-v1.5-7b \\
        --question-file playground/data/eval/mmbench/mmbench_dev_20230712.tsv \\
        --answers-file answers/mmbench.jsonl --single-pred-prompt --temperature 0 --conv-mode vicuna_v1

The user turn is `[hint\\n]question\\nA. opt\\nB. opt...` (`llava.eval.mmbench_tsv`); `--all-rounds` asks each
question once per option with the options rotated (circular evaluation), writing `round_id`, `options` and
`option_char` as LLaVA does. The salient query words come from that assembled text.
"""

import argparse
from collections.abc import Sequence

from tqdm import tqdm

from duet.config import DuetConfig
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
from llava.eval.images import image_from_base64
from llava.eval.mmbench_tsv import ALL_OPTIONS, question_id, question_text, read_tsv, row_options
from llava.eval.model_loading import EvalModel, load_eval_model
from llava.eval.prompting import (
    SINGLE_PRED_PROMPT,
    SINGLE_PRED_PROMPT_CN,
    build_prompt,
    image_token,
    needs_query_mask,
    query_mask,
)
from llava.eval.throughput import ThroughputMeter
from llava.mm_utils import process_images, tokenizer_image_token


def answer_row(
    loaded: EvalModel,
    row: dict[str, str],
    args: argparse.Namespace,
    salient: bool,
    decoding: DecodingOptions,
    done: set | frozenset = frozenset(),
) -> list[tuple[dict, int]]:
    """The record(s) for one TSV row (one per round, skipping rounds in `done`) and the tokens each generated."""
    model, tokenizer = loaded.model, loaded.tokenizer
    all_options = row_options(row)
    rounds = [r for r in range(len(all_options) if args.all_rounds else 1) if (question_id(row), r) not in done]
    if not rounds:
        return []
    image = image_from_base64(row["image"])
    pixels = process_images([image], loaded.image_processor, model.config)
    metadata = loaded.metadata()
    suffix = SINGLE_PRED_PROMPT_CN if args.lang == "cn" else SINGLE_PRED_PROMPT
    results = []
    for round_idx in rounds:
        # round r shows the options rotated left by r; option_char names the original letter at each position
        options = all_options[round_idx:] + all_options[:round_idx]
        letters = list(ALL_OPTIONS[: len(all_options)])
        option_chars = letters[round_idx:] + letters[:round_idx]
        question = question_text(row, options)
        message = image_token(model.config) + "\n" + question
        if args.single_pred_prompt:
            message += "\n" + suffix
        prompt = build_prompt(args.conv_mode, message)
        texts, new_tokens = generate_texts(
            model,
            tokenizer,
            [tokenizer_image_token(prompt, tokenizer, return_tensors="pt")],
            pixels,
            [image.size],
            [query_mask(tokenizer, prompt, question)] if salient else None,
            decoding,
        )
        extra = {"round_id": round_idx, "options": options, "option_char": option_chars}
        record = answer_record(question_id(row), question, texts[0], loaded.name, metadata, **extra)
        results.append((record, new_tokens))
    return results


def eval_model(args: argparse.Namespace, duet: DuetConfig | None) -> None:
    rows = get_chunk(read_tsv(args.question_file), args.num_chunks, args.chunk_idx)
    loaded = load_eval_model(args, duet)
    salient = needs_query_mask(loaded.model)
    decoding = DecodingOptions.from_args(args)
    meter = ThroughputMeter()
    with ResumableAnswers(args.answers_file, loaded.name, loaded.metadata(), overwrite=args.overwrite) as writer:
        for row in tqdm(rows):
            for record, new_tokens in answer_row(loaded, row, args, salient, decoding, writer.done):
                writer.write(record)
                meter.add(1, new_tokens)
    meter.log(loaded.model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    add_question_args(parser, "MMBench TSV with base64 images")
    add_prompt_args(parser)
    add_decoding_args(parser, max_new_tokens=1024)
    parser.add_argument("--all-rounds", "--all_rounds", dest="all_rounds", action="store_true",
                        help="ask once per option, rotating the options (circular evaluation)")  # fmt: skip
    parser.add_argument("--single-pred-prompt", "--single_pred_prompt", dest="single_pred_prompt",
                        action="store_true", help="append the answer-with-the-letter instruction")  # fmt: skip
    parser.add_argument("--lang", default="en", choices=("en", "cn"), help="language of the single-pred instruction")
    add_loading_and_duet_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    eval_model(*parse_eval_args(build_parser(), argv))


if __name__ == "__main__":
    main()
