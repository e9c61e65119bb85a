"""LLaVA's `eval_pope`: yes/no accuracy, precision, recall, F1 and yes-ratio per POPE category, and their mean F1.

    python llava/eval/eval_pope.py --annotation-dir playground/data/eval/pope/coco \\
        --question-file playground/data/eval/pope/llava_pope_test.jsonl --result-file answers/pope.jsonl

An answer is "no" when its first sentence (text before the first ".", commas removed, split on spaces) contains
the word "No", "not" or "no"; anything else is "yes". Each `coco_pope_<category>.json` annotation file lists the
labels of that category's questions in question-file order (LLaVA pairs them by position); here the pairing uses
the question file's order and the answers are looked up by `question_id`, so a reordered result file scores the
same, and a missing answer is an error instead of a silently shorter category. The paper reports the mean F1 over
the three categories (adversarial, popular, random).
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from llava.eval.answer_records import check_known, index_answers, read_jsonl
from llava.eval.run_record import add_run_record_args, record_from_answers

ANNOTATION_PREFIX = "coco_pope_"


def parse_yes_no(text: str) -> str:
    """LLaVA's rule: "no" if the first sentence has the word No/not/no, else "yes"."""
    first_sentence = text.split(".")[0] if "." in text else text
    words = first_sentence.replace(",", "").split(" ")
    return "no" if {"No", "not", "no"} & set(words) else "yes"


@dataclass(frozen=True)
class PopeMetrics:
    """Confusion counts with "yes" as the positive class, and the rates LLaVA prints."""

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.total

    @property
    def precision(self) -> float:
        """0 when nothing was predicted "yes" (LLaVA divides by zero there)."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def yes_ratio(self) -> float:
        return (self.tp + self.fp) / self.total


def score(predictions: Sequence[str], labels: Sequence[str]) -> PopeMetrics:
    """Metrics of parsed predictions ("yes"/"no") against labels (anything but "no" is yes, as in LLaVA)."""
    if len(predictions) != len(labels) or not labels:
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels; need the same, non-zero count")
    pairs = [(p == "yes", label != "no") for p, label in zip(predictions, labels, strict=True)]
    return PopeMetrics(
        tp=sum(p and t for p, t in pairs),
        fp=sum(p and not t for p, t in pairs),
        tn=sum(not p and not t for p, t in pairs),
        fn=sum(not p and t for p, t in pairs),
    )


def annotation_files(annotation_dir: str | Path) -> dict[str, Path]:
    """`{category: path}` of every `coco_pope_<category>.json` (JSON lines with `label`)."""
    files = {}
    for path in sorted(Path(annotation_dir).expanduser().iterdir()):
        if not (path.name.startswith(ANNOTATION_PREFIX) and path.suffix == ".json"):
            raise ValueError(f"{path}: the annotation dir must hold only {ANNOTATION_PREFIX}<category>.json files")
        files[path.stem[len(ANNOTATION_PREFIX) :]] = path
    if not files:
        raise ValueError(f"{annotation_dir}: no {ANNOTATION_PREFIX}<category>.json annotation files")
    return files


def evaluate(annotation_dir: str | Path, questions: Sequence[dict], answers: Sequence[dict]) -> dict[str, PopeMetrics]:
    """Per-category metrics, categories in file-name order."""
    texts = {answer["question_id"]: answer["text"] for answer in answers}
    results = {}
    for category, path in annotation_files(annotation_dir).items():
        annotations = read_jsonl(path)
        asked = [q for q in questions if q.get("category") == category]
        if len(asked) != len(annotations):
            raise ValueError(
                f"{path} has {len(annotations)} labels but the question file has {len(asked)} {category!r} questions"
            )
        for question, annotation in zip(asked, annotations, strict=True):
            if "image" in annotation and annotation["image"] != question.get("image", annotation["image"]):
                raise ValueError(
                    f"{path}: label for image {annotation['image']} pairs with question {question['question_id']} on "
                    f"{question['image']}; the annotation file and the question file are not in the same order"
                )
        missing = [q["question_id"] for q in asked if q["question_id"] not in texts]
        if missing:
            raise ValueError(f"{len(missing)} {category!r} questions have no answer (first: {missing[0]!r})")
        predictions = [parse_yes_no(texts[q["question_id"]]) for q in asked]
        results[category] = score(predictions, [a["label"] for a in annotations])
    return results


def print_metrics(category: str, metrics: PopeMetrics) -> None:
    """LLaVA's printout for one category."""
    print(f"Category: {category}, # samples: {metrics.total}")
    print("TP\tFP\tTN\tFN\t")
    print(f"{metrics.tp}\t{metrics.fp}\t{metrics.tn}\t{metrics.fn}")
    print(f"Accuracy: {metrics.accuracy}")
    print(f"Precision: {metrics.precision}")
    print(f"Recall: {metrics.recall}")
    print(f"F1 score: {metrics.f1}")
    print(f"Yes ratio: {metrics.yes_ratio}")
    print(
        f"{metrics.f1:.3f}, {metrics.accuracy:.3f}, {metrics.precision:.3f}, {metrics.recall:.3f}, {metrics.yes_ratio:.3f}"
    )
    print("====================================")


def average_f1(results: dict[str, PopeMetrics]) -> float:
    return sum(m.f1 for m in results.values()) / len(results)


def main(argv: Sequence[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation-dir", required=True, help="folder of coco_pope_<category>.json files")
    parser.add_argument("--question-file", required=True, help="llava_pope_test.jsonl (with `category`)")
    parser.add_argument("--result-file", required=True, help="the generator's answers (JSON lines)")
    add_run_record_args(parser)
    args = parser.parse_args(argv)
    questions = read_jsonl(args.question_file)
    answers = read_jsonl(args.result_file)
    check_known(index_answers(answers, args.result_file), [q["question_id"] for q in questions], args.result_file,
                args.question_file)  # fmt: skip
    results = evaluate(args.annotation_dir, questions, answers)
    for category, metrics in results.items():
        print_metrics(category, metrics)
    f1 = average_f1(results)
    print(f"Average F1 over {len(results)} categories: {f1:.4f}")
    metrics = {"f1": 100 * f1, **{f"{category}_f1": 100 * m.f1 for category, m in results.items()},
               **{f"{category}_accuracy": 100 * m.accuracy for category, m in results.items()}}  # fmt: skip
    record_from_answers(args, "pope", 100 * f1, metrics, answers, args.result_file)
    return f1


if __name__ == "__main__":
    main()
