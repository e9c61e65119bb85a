"""Held-out accuracy of a demo checkpoint, with the two controls that show whether it reads the image.

    python -m llava.demo.evaluate --model-path checkpoints/demo/seed-0/finetune-baseline \\
        --model-path checkpoints/demo/seed-0/finetune-duet-192 \\
        --question-file playground/data/demo/seed-0/eval.jsonl --image-folder playground/data/demo/seed-0 \\
        [--duet checkpoint|none|192|128|64|llava-1.5:64 ...] --results-dir checkpoints/demo/seed-0

The questions are answered twice with greedy, batched (left-padded) generation, LLaVA's `vicuna_v1` prompt and
`model_vqa_loader`'s "<image>\\n<question>" layout: once with each question's own image and once with the images
SHUFFLED among questions (every image replaced by another one). A model that only learned the language prior
scores the same on both; chance (a uniform guess per type) is reported next to them. Scores are exact matches of
the normalised first word (`llava.demo.scoring`), per question type and overall.

`--duet checkpoint` (the default) evaluates under whatever DUET setting the checkpoint was trained with, `none`
without compression, and a preset name under that setting (inference-only compression for a model trained
without it). Several `--model-path`s are evaluated in one process (loading the libraries once); each writes
`eval-<name>.json` and `answers-<name>.jsonl` into `--results-dir`, where `<name>` is the checkpoint folder's name
without its `finetune-` prefix (`finetune-duet-192` -> `eval-duet-192.json`).
"""

import argparse
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from duet.config import DuetConfig
from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.demo.presets import DEMO_PRESETS, canonical_name
from llava.demo.scoring import accuracy, chance
from llava.eval.prompting import build_prompt as render_prompt
from llava.eval.prompting import needs_query_mask, query_mask
from llava.mm_utils import process_images, tokenizer_image_token
from llava.model.builder import load_pretrained_model
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM

CONV_MODE = "vicuna_v1"
KEEP_CHECKPOINT_DUET = "checkpoint"


def load_questions(path: str | Path) -> list[dict]:
    """The `model_vqa_loader`-style question file: one JSON object per line."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def shuffled_image_map(images: Sequence[str], seed: int) -> dict[str, str]:
    """A seeded derangement of the distinct images: each image maps to a different one (identity if only one)."""
    order = sorted(set(images))
    random.Random(seed).shuffle(order)
    return {order[i]: order[(i + 1) % len(order)] for i in range(len(order))}


def build_prompt(question: str) -> str:
    """The demo's eval prompt, `model_vqa_loader`'s: "<image>\\n<question>" in `vicuna_v1`, assistant turn open."""
    return render_prompt(CONV_MODE, f"{DEFAULT_IMAGE_TOKEN}\n{question}")


def left_pad(sequences: Sequence[torch.Tensor], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D id tensors, padded on the LEFT (what batched generation needs), with their attention mask."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, length - len(sequence) :] = sequence
        mask[row, length - len(sequence) :] = 1
    return ids, mask


@torch.inference_mode()
def generate_answers(
    model: LlavaLlamaForCausalLM,
    tokenizer: PreTrainedTokenizerBase,
    image_processor: Any,
    questions: Sequence[dict],
    image_folder: str | Path,
    images: Sequence[str],
    batch_size: int,
    max_new_tokens: int,
    desc: str,
) -> list[str]:
    """Greedy answers to `questions`, question i shown `images[i]` (a path relative to `image_folder`).

    Under DUET with salient T2V queries, each prompt also carries its question's salient-word mask.
    """
    device, dtype = model.lm_head.weight.device, model.lm_head.weight.dtype
    salient = needs_query_mask(model)
    answers: list[str] = []
    for start in tqdm(range(0, len(questions), batch_size), desc=desc, unit="batch"):
        batch = questions[start : start + batch_size]
        prompts = [build_prompt(q["text"]) for q in batch]
        ids = [tokenizer_image_token(prompt, tokenizer, return_tensors="pt") for prompt in prompts]
        input_ids, attention_mask = left_pad(ids, tokenizer.pad_token_id)
        extra = {}
        if salient:
            masks = [query_mask(tokenizer, prompt, q["text"]).long() for prompt, q in zip(prompts, batch, strict=True)]
            extra["t2v_query_mask"] = left_pad(masks, 0)[0].bool().to(device)
        pictures = [
            Image.open(Path(image_folder) / image).convert("RGB") for image in images[start : start + batch_size]
        ]
        pixels = process_images(pictures, image_processor, model.config).to(device=device, dtype=dtype)
        output = model.generate(
            input_ids.to(device),
            images=pixels,
            attention_mask=attention_mask.to(device),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            **extra,
        )
        answers += [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
    return answers


def duet_override(spec: str) -> DuetConfig | str | None:
    """What to pass as `load_pretrained_model(duet=...)`: None keeps the checkpoint's own setting."""
    if spec == KEEP_CHECKPOINT_DUET:
        return None
    if spec == "none":
        return "full"
    try:
        return DEMO_PRESETS[canonical_name(spec)]
    except ValueError:
        return spec  # a `duet.presets` name; `duet.resolve` rejects unknown ones with the list of valid names


def run_name(model_path: str | Path) -> str:
    """The short name of a demo checkpoint folder: `finetune-duet-192` -> `duet-192`."""
    name = Path(model_path).name
    return name.removeprefix("finetune-") or name


def evaluate(args: argparse.Namespace, model_path: str) -> dict:
    """Answer every question with its own and with shuffled images; return the results dict (also written)."""
    tokenizer, model, image_processor, _ = load_pretrained_model(
        model_path, args.model_base, vision_tower=args.vision_tower, duet=duet_override(args.duet)
    )
    questions = load_questions(args.question_file)
    own = [q["image"] for q in questions]
    mapping = shuffled_image_map(own, args.seed)
    started = time.perf_counter()
    common = (model, tokenizer, image_processor, questions, args.image_folder)
    name = run_name(model_path)
    answers = generate_answers(*common, own, args.batch_size, args.max_new_tokens, f"eval {name}")
    shuffled = generate_answers(
        *common, [mapping[i] for i in own], args.batch_size, args.max_new_tokens, f"eval {name}, shuffled images"
    )
    results = {
        "model_path": str(model_path),
        "question_file": str(args.question_file),
        "image_folder": str(args.image_folder),
        "duet": model.duet.to_dict() if model.duet is not None else None,
        "questions": len(questions),
        "images": len(set(own)),
        "accuracy": accuracy(questions, answers),
        "shuffled": accuracy(questions, shuffled),
        "chance": chance(questions),
        "eval_seconds": time.perf_counter() - started,
    }
    rows = [
        {"question_id": q["question_id"], "prompt": q["text"], "text": a, "shuffled_text": s, "answer": q["answer"],
         "category": q["category"], "model_id": Path(model_path).name}
        for q, a, s in zip(questions, answers, shuffled, strict=True)
    ]  # fmt: skip
    out = Path(args.results_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"answers-{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (out / f"eval-{name}.json").write_text(json.dumps(results, indent=1))
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Demo held-out accuracy, with chance and shuffled-image controls.")
    parser.add_argument("--model-path", action="append", required=True, help="a checkpoint; repeat for several")
    parser.add_argument("--model-base", default=None, help="base LLM, for projector-only or LoRA checkpoints")
    parser.add_argument("--vision-tower", default=None, help="load the CLIP tower from here instead of config.json")
    parser.add_argument("--question-file", required=True)
    parser.add_argument("--image-folder", required=True)
    parser.add_argument(
        "--duet",
        default=KEEP_CHECKPOINT_DUET,
        help="'checkpoint' (as trained), 'none', a demo preset 192|128|64 (or 67|78|89), or a duet preset name",
    )
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0, help="seed of the image shuffle")
    parser.add_argument("--results-dir", required=True, help="receives eval-<name>.json and answers-<name>.jsonl")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    names = [run_name(path) for path in args.model_path]
    if len(set(names)) != len(names):
        raise SystemExit(
            f"error: --model-path folders must have distinct names (got {names}); their results share --results-dir."
        )
    for path in args.model_path:
        results = evaluate(args, path)
        summary = ", ".join(f"{k} {v:.3f}" for k, v in results["accuracy"].items())
        print(f"[evaluate] {run_name(path)} (DUET {'on' if results['duet'] else 'off'}): {summary}")


if __name__ == "__main__":
    main()
