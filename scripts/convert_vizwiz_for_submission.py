"""LLaVA's `convert_vizwiz_for_submission`: answers → the VizWiz upload file (`[{"image", "answer"}]`) for EvalAI.

    python scripts/convert_vizwiz_for_submission.py --annotation-file playground/data/eval/vizwiz/llava_test.jsonl \\
        --result-file answers/vizwiz.jsonl --result-upload-file answers_upload/vizwiz.json

One entry per question of the question file, in its order, the answer normalised by EvalAI's processor. Every
question must be answered (LLaVA asserts it); a malformed line, a duplicate or an unknown id is an error too.
"""

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from llava.eval.answer_records import AnswersFileError, check_known, read_answers, read_jsonl
from llava.eval.m4c_evaluator import EvalAIAnswerProcessor


def submission(questions: Sequence[dict], answers: dict) -> list[dict]:
    missing = [q["question_id"] for q in questions if q["question_id"] not in answers]
    if missing:
        raise AnswersFileError(f"{len(missing)} VizWiz question(s) have no answer (first: {missing[0]!r})")
    process = EvalAIAnswerProcessor()
    return [{"image": q["image"], "answer": process(answers[q["question_id"]]["text"])} for q in questions]


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation-file", required=True, help="the question file the answers came from")
    parser.add_argument("--result-file", required=True)
    parser.add_argument("--result-upload-file", required=True)
    args = parser.parse_args(argv)
    questions = read_jsonl(args.annotation_file)
    answers = read_answers(args.result_file)
    check_known(answers, [q["question_id"] for q in questions], args.result_file, args.annotation_file)
    print(f"total results: {len(answers)}, total split: {len(questions)}, error_line: 0")
    upload = Path(args.result_upload_file)
    upload.parent.mkdir(parents=True, exist_ok=True)
    upload.write_text(json.dumps(submission(questions, answers)))
    return upload


if __name__ == "__main__":
    main()
