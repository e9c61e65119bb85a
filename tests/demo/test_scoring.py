"""Exact match on the normalised first word, per question type, and the chance levels, on hand-written pairs."""

import pytest

from llava.demo.scoring import accuracy, chance, is_correct, normalise


@pytest.mark.parametrize(
    ("text", "word"),
    [("red", "red"), ("Red.", "red"), ("  Blue, I think", "blue"), ("'left'!", "left"), ("", ""), ("...", "")],
)
def test_normalise_keeps_the_first_word_only(text: str, word: str) -> None:
    assert normalise(text) == word


@pytest.mark.parametrize(
    ("prediction", "answer", "correct"),
    [
        ("three", "three", True),
        ("Three.", "three", True),
        ("three shapes", "three", True),
        ("3", "three", False),
        ("the circle", "circle", False),  # the first word decides
        ("reddish", "red", False),
        ("", "red", False),
    ],
)
def test_is_correct(prediction: str, answer: str, correct: bool) -> None:
    assert is_correct(prediction, answer) is correct


QUESTIONS = [
    {"category": "colour", "answer": "red"},
    {"category": "colour", "answer": "blue"},
    {"category": "count", "answer": "two"},
    {"category": "side", "answer": "left"},
    {"category": "side", "answer": "right"},
    {"category": "shape", "answer": "circle"},
]


def test_accuracy_by_type_and_overall() -> None:
    predictions = ["Red.", "green", "two", "left", "left", "square"]
    scores = accuracy(QUESTIONS, predictions)
    assert list(scores) == ["colour", "shape", "count", "side", "overall"]
    assert scores == {"colour": 0.5, "shape": 0.0, "count": 1.0, "side": 0.5, "overall": 3 / 6}


def test_accuracy_needs_one_prediction_per_question() -> None:
    with pytest.raises(ValueError, match="5 predictions for 6 questions"):
        accuracy(QUESTIONS, ["red"] * 5)


def test_chance_is_a_uniform_guess_per_type() -> None:
    scores = chance(QUESTIONS)
    assert scores["colour"] == pytest.approx(1 / 6)
    assert scores["shape"] == pytest.approx(1 / 3)
    assert scores["count"] == pytest.approx(1 / 3)
    assert scores["side"] == pytest.approx(1 / 2)
    assert scores["overall"] == pytest.approx((2 / 6 + 1 / 3 + 1 / 3 + 2 / 2) / 6)
