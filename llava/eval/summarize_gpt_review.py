"""LLaVA's `summarize_gpt_review`: LLaVA-Bench scores from judge reviews.

    python llava/eval/summarize_gpt_review.py -f playground/data/eval/llava-bench-in-the-wild/reviews/llava-v1.5-7b.jsonl

Per category and over all reviews, with LLaVA's arithmetic: the mean score pair (reference, model) over the reviews,
each mean rounded to 3 decimals, then printed as `<category> <relative> <reference x 10> <model x 10>`, where
relative = round(model / reference x 100, 1) — the LLaVA-Bench number papers report ("all") — and the two scores
are round(mean x 10, 1). Categories are sorted; the file's name (without `gpt4_text_` and `.jsonl`) is printed
first. Reviews are read strictly (a malformed line or a question reviewed twice is an error), and a review without
a score pair is an error instead of an average that includes it.
"""

import argparse
import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from llava.eval.answer_records import AnswersFileError, read_answers, read_jsonl
from llava.eval.run_record import add_run_record_args, record_from_answers


def category_scores(reviews: Sequence[dict], ignore: Sequence[int] = ()) -> dict[str, tuple[float, float, float]]:
    """`{category: (relative, reference x 10, model x 10)}` plus "all", in LLaVA's rounding."""
    pairs: dict[str, list[list[float]]] = defaultdict(list)
    for review in reviews:
        if review["question_id"] in ignore:
            continue
        pair = review.get("tuple", review.get("parsed"))
        if not (isinstance(pair, list) and len(pair) == 2):
            raise AnswersFileError(f"review of question {review['question_id']!r} has no score pair; rerun the judge")
        if "category" in review:
            pairs[review["category"]].append(pair)
        pairs["all"].append(pair)
    scores = {}
    for category, values in sorted(pairs.items()):
        stats = [round(x, 3) for x in np.asarray(values).mean(0).tolist()]
        scores[category] = (round(stats[1] / stats[0] * 100, 1), round(stats[0] * 10, 1), round(stats[1] * 10, 1))
    return scores


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, tuple[float, float, float]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-d", "--dir", default=None, help="folder of review files")
    parser.add_argument("-f", "--files", nargs="*", default=[], help="review files")
    parser.add_argument("-i", "--ignore", nargs="*", default=[], type=int, help="question ids to leave out")
    parser.add_argument("--answers-file", default=None, help="the model's answers: the run record's model and setting")
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    if args.files:
        files = [Path(f) for f in args.files]
    elif args.dir:
        files = sorted(p for p in Path(args.dir).iterdir() if p.suffix == ".jsonl")
    else:
        parser.error("give -f review files or -d a folder of them")
    if args.run_record is not None and (args.answers_file is None or len(files) != 1):
        parser.error("--run-record needs one review file (-f) and --answers-file (the model's answers)")
    summary = {}
    for path in sorted(files):
        name = os.path.basename(path).replace("gpt4_text_", "").replace(".jsonl", "")
        print(name)
        reviews = list(read_answers(path, key=lambda r: r["question_id"]).values())
        summary[name] = category_scores(reviews, args.ignore)
        for category, (relative, reference, model) in summary[name].items():
            print(category, relative, reference, model)
        print("=================================")
    if args.run_record is not None:
        scores = summary[next(iter(summary))]
        metrics = {f"{category}_relative": values[0] for category, values in scores.items()}
        metrics.update({"reference_score": scores["all"][1], "model_score": scores["all"][2]})
        answers = read_jsonl(args.answers_file)
        record_from_answers(args, "llavabench", scores["all"][0], metrics, answers, args.answers_file)
    return summary


if __name__ == "__main__":
    main()
