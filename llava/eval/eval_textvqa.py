"""LLaVA's `eval_textvqa`: TextVQA val soft accuracy of an answers file against `TextVQA_0.5.1_val.json`.

    python -m llava.eval.eval_textvqa --annotation-file playground/data/eval/textvqa/TextVQA_0.5.1_val.json \\
        --result-file answers/textvqa.jsonl

Answers are matched to annotations by `(image_id, question)`: LLaVA's question file uses the image id as
`question_id`, and the question is recovered from the record's `prompt` (the first line of
"question\\nReference OCR token: ...\\nAnswer the question using a single word or phrase.", lower-cased).
Scoring is `m4c_evaluator.TextVQAAccuracyEvaluator`.
"""

import argparse
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import index_answers, read_jsonl
from llava.eval.m4c_evaluator import TextVQAAccuracyEvaluator
from llava.eval.run_record import add_run_record_args, record_from_answers

OCR_MARK = "Reference OCR token: "


def prompt_processor(prompt: str) -> str:
    """The lower-cased question inside a record's prompt, for the three prompt layouts LLaVA's files use."""
    lines = prompt.split("\n")
    if prompt.startswith("OCR tokens: "):
        match = re.search(r"Question: (.*?) Short answer:", prompt, re.DOTALL)
        if match is None:
            raise ValueError(f"prompt starts with 'OCR tokens: ' but has no 'Question: ... Short answer:': {prompt!r}")
        question = match.group(1)
    elif OCR_MARK in prompt and len(lines) == 3:
        question = lines[1] if prompt.startswith(OCR_MARK.rstrip()) else lines[0]
    elif len(lines) == 2:
        question = lines[0]
    else:
        raise ValueError(f"cannot find the question in prompt {prompt!r}; expected LLaVA's TextVQA prompt layout")
    return question.lower()


def load_annotations(annotation_file: str | Path) -> dict[tuple[str, str], dict]:
    """`{(image_id, lower-cased question): annotation}` from the official TextVQA json (`{"data": [...]}`)."""
    data = json.loads(Path(annotation_file).expanduser().read_text())["data"]
    return {(a["image_id"], a["question"].lower()): a for a in data}


def evaluate(annotations: dict[tuple[str, str], dict], results: Sequence[dict]) -> float:
    """Soft accuracy in [0, 1] of the answer records."""
    pred_list = []
    for result in results:
        key = (result["question_id"], prompt_processor(result["prompt"]))
        if key not in annotations:
            raise ValueError(f"no annotation for image {key[0]!r} and question {key[1]!r}; wrong annotation file?")
        pred_list.append({"pred_answer": result["text"], "gt_answers": annotations[key]["answers"]})
    return TextVQAAccuracyEvaluator().eval_pred_list(pred_list)


def eval_single(annotations: dict[tuple[str, str], dict], result_file: str | Path) -> float:
    """Print LLaVA's two lines for one answers file; return the accuracy in percent."""
    results = read_jsonl(result_file)
    index_answers(results, result_file)
    accuracy = 100.0 * evaluate(annotations, results)
    print(os.path.splitext(os.path.basename(result_file))[0])
    print(f"Samples: {len(results)}\nAccuracy: {accuracy:.2f}%\n")
    return accuracy


def main(argv: Sequence[str] | None = None) -> float | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation-file", required=True, help="TextVQA_0.5.1_val.json")
    parser.add_argument("--result-file", default=None, help="one answers file")
    parser.add_argument("--result-dir", default=None, help="score every *.jsonl in this folder")
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    if args.result_file is None and args.result_dir is None:
        parser.error("give --result-file and/or --result-dir")
    if args.run_record is not None and args.result_file is None:
        parser.error("--run-record records the score of --result-file; give one")
    annotations = load_annotations(args.annotation_file)
    accuracy = None
    if args.result_file is not None:
        accuracy = eval_single(annotations, args.result_file)
        answers = read_jsonl(args.result_file)
        record_from_answers(args, "textvqa", accuracy, {"accuracy": accuracy}, answers, args.result_file)
    if args.result_dir is not None:
        for name in sorted(os.listdir(args.result_dir)):
            if not name.endswith(".jsonl"):
                print(f"Skipping {name}")
                continue
            eval_single(annotations, os.path.join(args.result_dir, name))
    return accuracy


if __name__ == "__main__":
    main()
