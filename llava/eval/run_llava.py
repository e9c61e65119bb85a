"""LLaVA's `run_llava`: answer one query about one or more images and print the answer.

    python -m llava.eval.run_llava --model-path liuhaotian/llava-v1.5-7b --image-file view.jpg \\
        --query "What is shown here?" --duet-preset llava-1.5:64 --temperature 0

Several images are given as `--image-file a.jpg,b.jpg` (split on `--sep`); the query then marks where each goes
with `<image-placeholder>`. Without a placeholder a single image goes before the query. `--conv-mode` defaults to
what the checkpoint name suggests (`llava_v1` when the name contains "v1", else `llava_v0`).
"""

import argparse
from collections.abc import Sequence

from duet.config import DuetConfig
from llava.constants import IMAGE_PLACEHOLDER
from llava.eval.cli import (
    add_decoding_args,
    add_loading_and_duet_args,
    add_model_args,
    add_prompt_args,
    parse_eval_args,
)
from llava.eval.decoding import DecodingOptions, generate_texts
from llava.eval.images import load_rgb
from llava.eval.model_loading import EvalModel, load_eval_model
from llava.eval.prompting import build_prompt, image_token, needs_query_mask, query_mask
from llava.eval.throughput import ThroughputMeter
from llava.mm_utils import process_images, tokenizer_image_token


def infer_conv_mode(model_name: str) -> str:
    """LLaVA's name rule, restricted to the templates this package ships (Vicuna-based LLaVA)."""
    return "llava_v1" if "v1" in model_name.lower() else "llava_v0"


def user_message(query: str, num_images: int, token: str) -> str:
    """The query with each `<image-placeholder>` replaced, or one image token in front when it has none."""
    placeholders = query.count(IMAGE_PLACEHOLDER)
    if placeholders == 0 and num_images == 1:
        return token + "\n" + query
    if placeholders != num_images:
        raise ValueError(
            f"{num_images} image(s) but {placeholders} {IMAGE_PLACEHOLDER} in --query; mark where each image goes "
            "(a single image needs no placeholder)."
        )
    return query.replace(IMAGE_PLACEHOLDER, token)


def eval_model(args: argparse.Namespace, duet: DuetConfig | None, loaded: EvalModel | None = None) -> str:
    """Print and return the answer; `loaded` reuses an already loaded model (notebooks, repeated queries)."""
    loaded = loaded or load_eval_model(args, duet)
    model, tokenizer = loaded.model, loaded.tokenizer
    inferred = infer_conv_mode(loaded.name)
    if args.conv_mode is not None and args.conv_mode != inferred:
        print(f"[WARNING] the auto inferred conversation mode is {inferred}, while `--conv-mode` is {args.conv_mode}, "
              f"using {args.conv_mode}")  # fmt: skip
    conv_mode = args.conv_mode or inferred
    images = [load_rgb(location) for location in args.image_file.split(args.sep)]
    message = user_message(args.query, len(images), image_token(model.config))
    prompt = build_prompt(conv_mode, message)
    question = args.query if IMAGE_PLACEHOLDER not in args.query else message
    meter = ThroughputMeter()
    texts, new_tokens = generate_texts(
        model,
        tokenizer,
        [tokenizer_image_token(prompt, tokenizer, return_tensors="pt")],
        process_images(images, loaded.image_processor, model.config),
        [image.size for image in images],
        [query_mask(tokenizer, prompt, question)] if needs_query_mask(model) else None,
        DecodingOptions.from_args(args),
    )
    meter.add(1, new_tokens)
    print(texts[0])
    meter.log(model)
    return texts[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_model_args(parser)
    parser.add_argument("--image-file", required=True, help="image path or URL; several joined by --sep")
    parser.add_argument("--query", required=True)
    parser.add_argument("--sep", default=",", help="separator between several --image-file entries")
    add_prompt_args(parser, conv_mode_default=None)
    add_decoding_args(parser, max_new_tokens=512)
    add_loading_and_duet_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> str:
    return eval_model(*parse_eval_args(build_parser(), argv))


if __name__ == "__main__":
    main()
