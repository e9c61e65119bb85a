"""LLaVA's `convert_vqav2_for_submission`: merged answers → the VQAv2 test-dev upload file for EvalAI.

    python scripts/convert_vqav2_for_submission.py --split llava_vqav2_mscoco_test-dev2015 --ckpt llava-v1.5-7b \\
        [--dir playground/data/eval/vqav2] [--src answers/.../merge.jsonl] [--dst answers_upload/....json]

Reads `<dir>/answers/<split>/<ckpt>/merge.jsonl` and lists every question of the full test split
(`<dir>/llava_vqav2_mscoco_test2015.jsonl`, EvalAI wants them all): `[{"question_id", "answer"}]` with the answer
normalised by EvalAI's processor (`m4c_evaluator.EvalAIAnswerProcessor`), "" for questions outside test-dev.
Differences from LLaVA: a malformed answers line is an error naming its line (LLaVA skipped and counted it, leaving
that question's answer empty), and so are a duplicate or an unknown question id.
"""

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import check_known, read_answers, read_jsonl
from llava.eval.m4c_evaluator import EvalAIAnswerProcessor


def submission(test_split: Sequence[dict], answers: dict) -> list[dict]:
    process = EvalAIAnswerProcessor()
    return [
        {
            "question_id": q["question_id"],
            "answer": process(answers[q["question_id"]]["text"]) if q["question_id"] in answers else "",
        }
        for q in test_split
    ]


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default="./playground/data/eval/vqav2")
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--src", default=None, help="default: <dir>/answers/<split>/<ckpt>/merge.jsonl")
    parser.add_argument("--dst", default=None, help="default: <dir>/answers_upload/<split>/<ckpt>.json")
    parser.add_argument("--test-split", default=None, help="default: <dir>/llava_vqav2_mscoco_test2015.jsonl")
    args = parser.parse_args(argv)
    src = args.src or os.path.join(args.dir, "answers", args.split, args.ckpt, "merge.jsonl")
    dst = Path(args.dst or os.path.join(args.dir, "answers_upload", args.split, f"{args.ckpt}.json"))
    test_split = read_jsonl(args.test_split or os.path.join(args.dir, "llava_vqav2_mscoco_test2015.jsonl"))
    answers = read_answers(src)
    check_known(answers, [q["question_id"] for q in test_split], src, "the VQAv2 test2015 split")
    print(f"total results: {len(answers)}, total split: {len(test_split)}, error_line: 0")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(json.dumps(submission(test_split, answers)))
    return dst


if __name__ == "__main__":
    main()
