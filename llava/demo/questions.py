"""What the demo asks about a scene, and what it says in captions and text-only turns.

Four question types, each with a one-word answer that needs the picture (`CATEGORIES`); the answer vocabulary of
each type (`ANSWERS`) gives the evaluator its chance level. Captions feed the `plain` pretraining stage, and
text-only conversations make finetuning batches mix image and text-only samples as LLaVA-665K's do.
"""

import random
from dataclasses import dataclass

from llava.demo.scenes import COLOURS, COUNT_WORDS, SHAPES, Scene

CATEGORIES: tuple[str, ...] = ("colour", "shape", "count", "side")
ANSWERS: dict[str, tuple[str, ...]] = {
    "colour": tuple(COLOURS),
    "shape": SHAPES,
    "count": COUNT_WORDS,
    "side": ("left", "right"),
}
CAPTION_INSTRUCTIONS: tuple[str, ...] = (
    "Describe the image briefly.",
    "Give a brief description of the image.",
    "What is shown in the picture?",
    "Summarize the visual content of the image.",
)


@dataclass(frozen=True)
class QA:
    """One question about a scene, its one-word answer, and its type (one of `CATEGORIES`)."""

    category: str
    question: str
    answer: str


def all_questions(scene: Scene) -> dict[str, list[QA]]:
    """Every question the scene answers unambiguously, by type (kinds and colours are distinct within a scene)."""
    return {
        "colour": [QA("colour", f"What color is the {s.kind}?", s.colour) for s in scene.shapes],
        "shape": [QA("shape", f"What shape is the {s.colour} object?", s.kind) for s in scene.shapes],
        "count": [QA("count", "How many shapes are there?", COUNT_WORDS[len(scene.shapes) - 1])],
        "side": [QA("side", f"Is the {s.colour} {s.kind} on the left or the right?", s.side) for s in scene.shapes],
    }


def sample_turns(rng: random.Random, scene: Scene, turns: int) -> list[QA]:
    """`turns` distinct questions: each turn picks a type uniformly among those with questions left, then one.

    Picking the type first keeps the types balanced although a 3-shape scene has one count question and three of
    every other type. Every scene has at least four distinct questions, one per type.
    """
    pool = {category: list(questions) for category, questions in all_questions(scene).items()}
    chosen: list[QA] = []
    for _ in range(turns):
        open_types = [category for category in CATEGORIES if pool[category]]
        if not open_types:
            break
        questions = pool[rng.choice(open_types)]
        chosen.append(questions.pop(rng.randrange(len(questions))))
    return chosen


def caption(scene: Scene) -> str:
    """A caption naming every shape with its colour and side, e.g. "Two shapes: a red circle on the left, ..."."""
    count = len(scene.shapes)
    parts = ", ".join(
        f"{'an' if s.colour[0] in 'aeiou' else 'a'} {s.colour} {s.kind} on the {s.side}" for s in scene.shapes
    )
    return f"{COUNT_WORDS[count - 1].capitalize()} shape{'s' if count > 1 else ''}: {parts}."


def _text_only_question(rng: random.Random) -> QA:
    """One question answerable without a picture: word knowledge about the demo's own vocabulary."""
    kind = rng.randrange(5)
    if kind == 0:
        i = rng.randrange(len(COUNT_WORDS) - 1)
        return QA("text", f"What number comes after {COUNT_WORDS[i]}?", COUNT_WORDS[i + 1])
    if kind == 1:
        i = rng.randrange(1, len(COUNT_WORDS))
        return QA("text", f"What number comes before {COUNT_WORDS[i]}?", COUNT_WORDS[i - 1])
    if kind == 2:
        return QA("text", f"Is {rng.choice(list(COLOURS))} a color or a shape?", "color")
    if kind == 3:
        return QA("text", f"Is a {rng.choice(SHAPES)} a color or a shape?", "shape")
    side = rng.choice(("left", "right"))
    return QA("text", f"What is the opposite of {side}?", "right" if side == "left" else "left")


def text_only_turns(rng: random.Random, turns: int) -> list[QA]:
    """`turns` picture-free questions, for the text-only conversations mixed into finetuning."""
    return [_text_only_question(rng) for _ in range(turns)]
