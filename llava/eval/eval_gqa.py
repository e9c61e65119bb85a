"""GQA accuracy of a predictions file: the `accuracy`, `binary` and `open` lines of GQA's official `eval.py`.

    python -m llava.eval.eval_gqa --predictions gqa/data/testdev_balanced_predictions.json \\
        --questions gqa/data/testdev_balanced_questions.json

The official script also needs scene graphs and choices files (missing from the v1.2 release; LLaVA's maintainer
patches it), but its accuracy is plain exact match over the balanced questions, which is all the paper reports;
this computes it from the questions file alone. Binary = questions whose structural type is not "query".
Predictions come from `scripts/convert_gqa_for_eval.py` (lower-cased, trailing periods removed).
"""

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from llava.eval.answer_records import read_jsonl
from llava.eval.run_record import add_run_record_args, record_from_answers


def accuracy(questions: Mapping[str, dict], predictions: Mapping[str, str]) -> dict[str, float]:
    """Percent exact-match accuracy over balanced questions: overall, binary and open."""
    scores: dict[str, list[float]] = {"accuracy": [], "binary": [], "open": []}
    missing = [qid for qid, q in questions.items() if q.get("isBalanced", True) and qid not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} balanced questions have no prediction (first: {missing[0]!r})")
    for qid, question in questions.items():
        if not question.get("isBalanced", True):
            continue
        score = float(predictions[qid] == question["answer"])
        scores["accuracy"].append(score)
        kind = "open" if question.get("types", {}).get("structural") == "query" else "binary"
        scores[kind].append(score)
    if not scores["accuracy"]:
        raise ValueError("the questions file has no balanced question")
    return {name: 100.0 * sum(values) / len(values) for name, values in scores.items() if values}


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True, help="[{questionId, prediction}] JSON")
    parser.add_argument("--questions", required=True, help="GQA questions JSON ({qid: {answer, isBalanced, types}})")
    parser.add_argument("--answers-file", default=None,
                        help="the generator's answers (merge.jsonl): the run record's model and setting")  # fmt: skip
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    if args.run_record is not None and args.answers_file is None:
        parser.error("--run-record needs --answers-file (the setting is read from the generator's answers)")
    questions = json.loads(Path(args.questions).expanduser().read_text())
    predictions = {str(p["questionId"]): p["prediction"] for p in json.loads(Path(args.predictions).read_text())}
    result = accuracy({str(k): v for k, v in questions.items()}, predictions)
    for name, value in result.items():
        print(f"{name.capitalize()}: {value:.2f}%")
    if args.run_record is not None:
        answers = read_jsonl(args.answers_file)
        record_from_answers(args, "gqa", result["accuracy"], result, answers, args.answers_file)
    return result


if __name__ == "__main__":
    main()
