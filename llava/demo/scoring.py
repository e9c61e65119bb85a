"""Scoring of the demo's one-word answers: exact match on the normalised first word, by question type.

Kept free of torch so the rules can be tested on hand-written pairs. A generated answer counts when its first
word, lower-cased and stripped of punctuation, equals the reference ("Red." and "red, I think" score for "red").
Chance is the accuracy of a uniform guess among a type's possible answers, averaged over the questions asked.
"""

import string
from collections.abc import Iterable, Mapping, Sequence

from llava.demo.questions import ANSWERS, CATEGORIES

OVERALL = "overall"
_STRIP = string.punctuation + string.whitespace


def normalise(text: str) -> str:
    """The first whitespace-separated word, lower-cased, without surrounding punctuation ("" for no word)."""
    words = text.split()
    return words[0].strip(_STRIP).lower() if words else ""


def is_correct(prediction: str, answer: str) -> bool:
    return normalise(prediction) == normalise(answer)


def _by_category(values: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Mean value per category (in `CATEGORIES` order, types absent from the data left out) and overall."""
    sums: dict[str, list[float]] = {}
    for category, value in values:
        sums.setdefault(category, []).append(value)
    result = {c: sum(sums[c]) / len(sums[c]) for c in CATEGORIES if c in sums}
    result |= {c: sum(v) / len(v) for c, v in sums.items() if c not in result}
    every = [v for vs in sums.values() for v in vs]
    result[OVERALL] = sum(every) / len(every) if every else 0.0
    return result


def accuracy(questions: Sequence[Mapping[str, str]], predictions: Sequence[str]) -> dict[str, float]:
    """Accuracy per question type and overall; `predictions[i]` answers `questions[i]`."""
    if len(questions) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(questions)} questions")
    return _by_category(
        (q["category"], float(is_correct(p, q["answer"]))) for q, p in zip(questions, predictions, strict=True)
    )


def chance(questions: Sequence[Mapping[str, str]]) -> dict[str, float]:
    """Expected accuracy of a uniform guess among each type's answers (colour 1/6, shape 1/3, count 1/3, side 1/2)."""
    return _by_category((q["category"], 1.0 / len(ANSWERS[q["category"]])) for q in questions)
