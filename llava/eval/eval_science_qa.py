"""LLaVA's `eval_science_qa`: ScienceQA Accuracy and IMG-Accuracy (the paper's SQA number) of an answers file.

    python llava/eval/eval_science_qa.py --base-dir playground/data/eval/scienceqa \\
        --result-file answers/sqa.jsonl --output-file answers/sqa_output.jsonl --output-result answers/sqa_result.json

`--base-dir` holds ScienceQA's `problems.json` and `pid_splits.json`. An answer is read as: the bare letter; or a
letter followed by ". "; or "The answer is X." / "The answer is X"; anything else is FAILED (wrong). A question
counts towards IMG-Accuracy when its record's prompt contains "<image>" (the generator writes it exactly for
questions with an image); a question without an answer counts as FAILED, outside the image subset (as in LLaVA).
"""

import argparse
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llava.eval.answer_records import read_jsonl
from llava.eval.scores_file import add_scores_args, record_from_args

DEFAULT_OPTIONS = ("A", "B", "C", "D", "E")
FAILED = "FAILED"
_ANSWER_IS_PERIOD = re.compile(r"The answer is ([A-E])\.")
_ANSWER_IS = re.compile(r"The answer is ([A-E])")


def parse_answer(text: str, options: Sequence[str] = DEFAULT_OPTIONS) -> str:
    """The option letter in a generated answer (newlines read as ". "), or "FAILED"."""
    text = text.replace("\n", ". ")
    if text.strip() in options:
        return text.strip()
    if len(text) >= 3 and text[0] in options and text[1:3] == ". ":
        return text[0]
    for pattern in (_ANSWER_IS_PERIOD, _ANSWER_IS):
        match = pattern.search(text)
        if match and match.group(1) in options:
            return match.group(1)
    return FAILED


def answer_index(letter: str, num_choices: int, options: Sequence[str] = DEFAULT_OPTIONS) -> int:
    """The 0-based choice index of a parsed letter, or -1 (FAILED, or a letter past the problem's choices)."""
    return list(options).index(letter) if letter in options[:num_choices] else -1


@dataclass
class SqaResult:
    """Per-question analyses split into correct/incorrect, and the per-problem predictions LLaVA writes out."""

    correct: list[dict] = field(default_factory=list)
    incorrect: list[dict] = field(default_factory=list)
    predictions: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return 100.0 * len(self.correct) / (len(self.correct) + len(self.incorrect))

    @property
    def img_accuracy(self) -> float:
        correct = sum(a["is_multimodal"] for a in self.correct)
        total = correct + sum(a["is_multimodal"] for a in self.incorrect)
        if total == 0:
            raise ValueError("no answered question has an image; IMG-Accuracy is undefined")
        return 100.0 * correct / total


def evaluate(
    problems: Mapping[str, dict],
    split_ids: Sequence[str],
    predictions: Mapping[str, dict],
    options: Sequence[str] = DEFAULT_OPTIONS,
) -> SqaResult:
    """Score the split's problems; `predictions` maps problem id → answer record."""
    if not split_ids:
        raise ValueError("the split has no problems")
    result = SqaResult()
    for problem_id in split_ids:
        problem = problems[problem_id]
        record = predictions.get(problem_id, {"text": FAILED, "prompt": "Unknown"})
        text = record["text"].replace("\n", ". ")
        letter = parse_answer(text, options)
        index = answer_index(letter, len(problem["choices"]), options)
        analysis = {
            "question_id": problem_id,
            "parsed_ans": letter,
            "ground_truth": options[problem["answer"]],
            "question": record["prompt"],
            "pred": text,
            "is_multimodal": "<image>" in record["prompt"],
        }
        (result.correct if index == problem["answer"] else result.incorrect).append(analysis)
        result.predictions[problem_id] = index
        result.outputs[problem_id] = text
    return result


def main(argv: Sequence[str] | None = None) -> SqaResult:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-dir", required=True, help="folder with problems.json and pid_splits.json")
    parser.add_argument("--result-file", required=True)
    parser.add_argument("--output-file", default=None, help="write the correct/incorrect analyses here")
    parser.add_argument("--output-result", default=None, help="write accuracy and per-problem predictions here")
    parser.add_argument("--split", default="test")
    parser.add_argument("--options", type=list, default=list(DEFAULT_OPTIONS), help="option letters, e.g. ABCDE")
    add_scores_args(parser)
    args = parser.parse_args(argv)
    base = Path(args.base_dir).expanduser()
    split_ids = json.loads((base / "pid_splits.json").read_text())[args.split]
    problems = json.loads((base / "problems.json").read_text())
    predictions = {str(r["question_id"]): r for r in read_jsonl(args.result_file)}
    missing = sum(problem_id not in predictions for problem_id in split_ids)
    if missing:
        print(f"[WARNING] {missing} of {len(split_ids)} {args.split} problems have no answer; counted as FAILED")
    result = evaluate(problems, split_ids, predictions, args.options)
    total = len(result.correct) + len(result.incorrect)
    print(
        f"Total: {total}, Correct: {len(result.correct)}, Accuracy: {result.accuracy:.2f}%, "
        f"IMG-Accuracy: {result.img_accuracy:.2f}%"
    )
    if args.output_file:
        Path(args.output_file).write_text(
            json.dumps({"correct": result.correct, "incorrect": result.incorrect}, indent=2)
        )
    if args.output_result:
        summary = {
            "acc": result.accuracy,
            "correct": len(result.correct),
            "count": total,
            "results": result.predictions,
            "outputs": result.outputs,
        }
        Path(args.output_result).write_text(json.dumps(summary, indent=2))
    record_from_args(args, "sqa", result.img_accuracy)
    return result


if __name__ == "__main__":
    main()
