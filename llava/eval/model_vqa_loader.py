"""LLaVA's `model_vqa_loader`: answer a JSON-lines question file through a DataLoader (GQA, MME, POPE, TextVQA, ...).

    python -m llava.eval.model_vqa_loader --model-path liuhaotian/llava-v1.5-7b \\
        --question-file playground/data/eval/textvqa/llava_textvqa_val_v051_ocr.jsonl \\
        --image-folder playground/data/eval/textvqa/train_images --answers-file answers/merge.jsonl \\
        --temperature 0 --conv-mode vicuna_v1 --duet-preset llava-1.5:64

Each question line holds `question_id`, `image` (relative to `--image-folder`) and `text` (already carrying the
benchmark's prompt suffix and, for TextVQA, the "Reference OCR token" line). In DUET's salient mode the query words
come from that `text`, as in the authors' loader. `--batch-size` > 1 is an extension (LLaVA asserts 1).
"""

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm
from transformers import CLIPImageProcessorPil, PreTrainedTokenizerBase

from duet.config import DuetConfig
from llava.eval.answer_records import (
    AnswersFileError,
    ResumableAnswers,
    answer_record,
    question_prompt_key,
    read_jsonl,
)
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
from llava.eval.model_loading import load_eval_model
from llava.eval.prompting import build_prompt, image_token, needs_query_mask, query_mask
from llava.eval.throughput import ThroughputMeter
from llava.mm_utils import process_images, tokenizer_image_token


def read_questions(path: str | Path) -> list[dict]:
    """The JSON-lines question file; each question must carry `question_id`, `image` and `text`, and no question may
    appear twice (the same id and text; MME shares one id between the two questions about an image)."""
    questions = read_jsonl(path)
    seen = set()
    for number, line in enumerate(questions, start=1):
        missing = [key for key in ("question_id", "image", "text") if key not in line]
        if missing:
            raise AnswersFileError(
                f"{path}: question {number} lacks {missing}; LLaVA's question files have question_id, image, text"
            )
        if (line["question_id"], line["text"]) in seen:
            raise AnswersFileError(f"{path}: question {number} (id {line['question_id']!r}) repeats an earlier one")
        seen.add((line["question_id"], line["text"]))
    return questions


class QuestionDataset(Dataset):
    """Prompt ids, pixels and (in salient mode) the query mask of each question, built in DataLoader workers."""

    def __init__(
        self,
        questions: Sequence[dict],
        image_folder: str,
        tokenizer: PreTrainedTokenizerBase,
        image_processor: CLIPImageProcessorPil,
        model_config: object,
        conv_mode: str,
        with_query_mask: bool,
    ) -> None:
        self.questions = questions
        self.image_folder = image_folder
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.model_config = model_config
        self.conv_mode = conv_mode
        self.with_query_mask = with_query_mask

    def __len__(self) -> int:
        return len(self.questions)

    def __getitem__(self, index: int) -> dict:
        line = self.questions[index]
        question = line["text"]
        prompt = build_prompt(self.conv_mode, image_token(self.model_config) + "\n" + question)
        image = Image.open(os.path.join(self.image_folder, line["image"])).convert("RGB")
        return {
            "line": line,
            "input_ids": tokenizer_image_token(prompt, self.tokenizer, return_tensors="pt"),
            "image": process_images([image], self.image_processor, self.model_config)[0],
            "image_size": image.size,
            "query_mask": query_mask(self.tokenizer, prompt, question) if self.with_query_mask else None,
        }


def keep_items(batch: list[dict]) -> list[dict]:
    """Collate as a plain list: prompts differ in length and are left-padded at generation time."""
    return batch


def eval_model(args: argparse.Namespace, duet: DuetConfig | None) -> None:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    questions = get_chunk(read_questions(args.question_file), args.num_chunks, args.chunk_idx)
    loaded = load_eval_model(args, duet)
    metadata = loaded.metadata()
    answers = ResumableAnswers(args.answers_file, loaded.name, metadata, args.overwrite, key=question_prompt_key)
    dataset = QuestionDataset(
        [line for line in questions if (line["question_id"], line["text"]) not in answers.done],
        args.image_folder,
        loaded.tokenizer,
        loaded.image_processor,
        loaded.model.config,
        args.conv_mode,
        needs_query_mask(loaded.model),
    )
    loader = DataLoader(
        dataset, batch_size=args.batch_size, num_workers=args.num_workers, shuffle=False, collate_fn=keep_items
    )
    options = DecodingOptions.from_args(args)
    meter = ThroughputMeter()
    with answers as writer:
        for batch in tqdm(loader, total=math.ceil(len(dataset) / args.batch_size)):
            masks = [item["query_mask"] for item in batch] if dataset.with_query_mask else None
            texts, new_tokens = generate_texts(
                loaded.model,
                loaded.tokenizer,
                [item["input_ids"] for item in batch],
                torch.stack([item["image"] for item in batch]),
                [item["image_size"] for item in batch],
                masks,
                options,
            )
            for item, text in zip(batch, texts, strict=True):
                line = item["line"]
                writer.write(answer_record(line["question_id"], line["text"], text, loaded.name, metadata))
            meter.add(len(batch), new_tokens)
    meter.log(loaded.model)


def build_parser(description: str = __doc__.splitlines()[0], max_new_tokens: int = 128) -> argparse.ArgumentParser:
    """The loader's flags; `model_vqa` reuses them with its own description and LLaVA's 1024-token default."""
    parser = argparse.ArgumentParser(description=description)
    add_model_args(parser)
    add_question_args(parser, "JSON lines with question_id, image, text")
    add_prompt_args(parser)
    add_decoding_args(parser, max_new_tokens=max_new_tokens)
    parser.add_argument("--batch-size", "--batch_size", dest="batch_size", type=int, default=1,
                        help="questions per generate call (left-padded); LLaVA uses 1")  # fmt: skip
    parser.add_argument("--num-workers", "--num_workers", dest="num_workers", type=int, default=4,
                        help="DataLoader workers that build prompts and pixels")  # fmt: skip
    add_loading_and_duet_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    eval_model(*parse_eval_args(build_parser(), argv))


if __name__ == "__main__":
    main()
