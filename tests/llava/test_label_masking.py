"""Labels from `tokenize_conversation` against hand-computed expectations, and its refusals.

Each expected sample is written as `(piece, is_target)` pairs: the piece is what the tiny tokenizer produces
(`IMG` for the image sentinel), the flag whether LLaVA trains on it.
"""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llava.constants import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.data import TokenizedSample, tokenize_conversation
from llava.mm_utils import tokenizer_image_token
from llava.testing import build_tiny_tokenizer

IMG = IMAGE_TOKEN_INDEX
T, X = True, False  # target, ignored

# "A chat between ... questions." tokenized: never a target.
SYSTEM_PIECES = [
    "▁A", "▁chat", "▁between", "▁a", "▁curious", "▁user", "▁and", "▁an", "▁artificial", "▁intelligence",
    "▁assistant", ".", "▁The", "▁assistant", "▁gives", "▁helpful", ",", "▁detailed", ",", "▁and", "▁polite",
    "▁answers", "▁to", "▁the", "▁user", "'", "s", "▁questions", ".",
]  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer()


def _pairs(tokenizer, sample: TokenizedSample) -> list[tuple[str | int, bool]]:
    """(piece, is_target), checking that targets carry their own id."""
    pairs = []
    for token, label in zip(sample.input_ids, sample.labels, strict=True):
        assert label in (IGNORE_INDEX, token)
        pairs.append((tokenizer.convert_ids_to_tokens(token) if token >= 0 else token, label != IGNORE_INDEX))
    return pairs


def test_plain_replaces_the_instruction_by_the_image_and_trains_on_the_caption(tokenizer) -> None:
    sources = [
        {"from": "human", "value": "Give a brief description of the image.\n<image>"},
        {"from": "gpt", "value": "A red circle."},
    ]
    sample = tokenize_conversation(sources, tokenizer, "plain", has_image=True, sample_id="p0")
    assert _pairs(tokenizer, sample) == [
        ("<s>", X), (IMG, X), ("▁A", T), ("▁red", T), ("▁circle", T), (".", T), ("<0x0A>", T),
    ]  # fmt: skip
    assert sample.input_ids == tokenizer_image_token("<image>A red circle.\n", tokenizer)
    assert sample.query_mask is None


def test_v1_two_rounds_train_on_answers_and_their_eos(tokenizer) -> None:
    sources = [
        {"from": "human", "value": "What color is the square?\n<image>"},
        {"from": "gpt", "value": "Blue."},
        {"from": "human", "value": "How many circles are there?"},
        {"from": "gpt", "value": "(B) 3"},
    ]
    sample = tokenize_conversation(sources, tokenizer, "v1", has_image=True, sample_id="v0")
    # Prompt: "{system} USER: <image>\nWhat color is the square? ASSISTANT: Blue.</s>USER: How many circles are
    # there? ASSISTANT: (B) 3</s>". The space after "ASSISTANT:" belongs to the answer's first piece ("▁Bl"), or
    # is a piece of its own before "(" (LLaVA's token count trains on it in both cases).
    assert _pairs(tokenizer, sample) == [
        ("<s>", X), *[(piece, X) for piece in SYSTEM_PIECES],
        ("▁USER", X), (":", X), ("▁", X), (IMG, X), ("▁", X), ("<0x0A>", X),
        ("What", X), ("▁color", X), ("▁is", X), ("▁the", X), ("▁square", X), ("?", X), ("▁ASSISTANT", X), (":", X),
        ("▁Bl", T), ("ue", T), (".", T), ("</s>", T),
        ("USER", X), (":", X), ("▁How", X), ("▁many", X), ("▁circles", X), ("▁are", X), ("▁there", X), ("?", X),
        ("▁ASSISTANT", X), (":", X),
        ("▁", T), ("(", T), ("B", T), (")", T), ("▁", T), ("3", T), ("</s>", T),
    ]  # fmt: skip


def test_v1_text_only_sample_has_no_sentinel(tokenizer) -> None:
    sources = [{"from": "human", "value": "Is it red?"}, {"from": "gpt", "value": "Yes."}]
    sample = tokenize_conversation(sources, tokenizer, "v1", has_image=False, sample_id=7)
    assert _pairs(tokenizer, sample) == [
        ("<s>", X), *[(piece, X) for piece in SYSTEM_PIECES],
        ("▁USER", X), (":", X), ("▁Is", X), ("▁i", X), ("t", X), ("▁red", X), ("?", X), ("▁ASSISTANT", X), (":", X),
        ("▁Y", T), ("es", T), (".", T), ("</s>", T),
    ]  # fmt: skip
    prompt = (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: Is it red? ASSISTANT: Yes.</s>"
    )
    assert sample.input_ids == tokenizer(prompt).input_ids


def test_v1_leading_gpt_turn_is_skipped_as_in_llava(tokenizer) -> None:
    turns = [{"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A star."}]
    skipped = tokenize_conversation([{"from": "gpt", "value": "Hello."}, *turns], tokenizer, "v1", True, "s")
    assert skipped == tokenize_conversation(turns, tokenizer, "v1", True, "s")


def test_v1_query_mask_marks_the_query_words_of_every_human_turn(tokenizer) -> None:
    seen: list[str] = []

    def colour_and_count_words(text: str) -> list[tuple[int, int]]:
        seen.append(text)
        return [match.span() for match in re.finditer(r"color|many", text)]

    sources = [
        {"from": "human", "value": "<image>What color is the square?"},
        {"from": "gpt", "value": "Blue."},
        {"from": "human", "value": "How many circles are there?"},
        {"from": "gpt", "value": "Three."},
    ]
    sample = tokenize_conversation(sources, tokenizer, "v1", True, "q", query_spans_fn=colour_and_count_words)
    # The function sees each human turn without "<image>\n".
    assert seen == ["What color is the square?", "How many circles are there?"]
    assert sample.query_mask is not None
    marked = [tokenizer.convert_ids_to_tokens(t) for t, q in zip(sample.input_ids, sample.query_mask, strict=True) if q]
    assert marked == ["▁color", "▁many"]


def test_plain_query_mask_is_empty_because_the_instruction_is_dropped(tokenizer) -> None:
    sources = [{"from": "human", "value": "Describe.\n<image>"}, {"from": "gpt", "value": "A star."}]
    sample = tokenize_conversation(sources, tokenizer, "plain", True, "pq", query_spans_fn=lambda text: [(0, 1)])
    assert sample.query_mask == [False] * len(sample.input_ids)


@pytest.mark.parametrize(
    ("sources", "template", "has_image", "message"),
    [
        ([{"from": "human", "value": "<image>\nHi"}], "v1", True, "no target token"),
        ([{"from": "human", "value": "Hi"}, {"from": "human", "value": "Hi"}], "v1", False, "turn 1 is from 'human'"),
        ([{"from": "human", "value": "Hi"}, {"from": "bot", "value": "Hi"}], "v1", False, r"unknown roles \['bot'\]"),
        ([{"from": "human", "value": "Hi"}, {"from": "gpt", "value": ""}], "v1", False, "empty turn"),
        ([{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}], "v1", True, "exactly one turn"),
        ([{"from": "human", "value": "<image>Hi"}, {"from": "gpt", "value": "Yo"}], "v1", False, "without image"),
        (
            [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "<image>"}, {"from": "human", "value": "?"}],
            "v1",
            True,
            "in a gpt turn",
        ),
        ([{"from": "human", "value": "<image>"}], "plain", True, "exactly 2 turns"),
        ([{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}], "plain", True, "<image> in turn 0"),
        ([{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "<image>"}], "plain", True, "caption"),
        ([{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "Yo"}], "plain", False, "needs an image"),
        ([{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}], "llama_2", False, "not one of"),
    ],
)
def test_malformed_samples_raise_with_the_sample_id(tokenizer, sources, template, has_image, message) -> None:
    with pytest.raises(ValueError, match=r"sample 'bad-42'") as error:
        tokenize_conversation(sources, tokenizer, template, has_image, sample_id="bad-42")
    assert re.search(message, str(error.value))


def test_query_span_outside_the_text_is_rejected(tokenizer) -> None:
    sources = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Yo"}]
    with pytest.raises(ValueError, match=r"sample 3: query span \(0, 9\) outside 'Hi'"):
        tokenize_conversation(sources, tokenizer, "v1", False, 3, query_spans_fn=lambda text: [(0, 9)])


_TEXT = st.text(alphabet=st.sampled_from(list("ab (A).,?3\n你 ")), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None)
@given(
    questions=st.lists(_TEXT, min_size=1, max_size=3),
    answers=st.lists(_TEXT, min_size=3, max_size=3),
    has_image=st.booleans(),
)
def test_v1_targets_decode_to_exactly_the_answers(questions: list[str], answers: list[str], has_image: bool) -> None:
    """Whatever the text, each run of target tokens decodes to one answer and its "</s>", in order."""
    tokenizer = build_tiny_tokenizer()
    sources = []
    for i, question in enumerate(questions):
        sources += [{"from": "human", "value": question + ("<image>" if i == 0 and has_image else "")}]
        sources += [{"from": "gpt", "value": answers[i]}]
    sample = tokenize_conversation(sources, tokenizer, "v1", has_image, "h")

    runs: list[list[int]] = []
    previous_target = False
    for label in sample.labels:
        if label != IGNORE_INDEX:
            if not previous_target:
                runs.append([])
            runs[-1].append(label)
        previous_target = label != IGNORE_INDEX
    # The decoder drops one leading space: the one between "ASSISTANT:" and the answer.
    assert [tokenizer.decode(run) for run in runs] == [answer + "</s>" for answer in answers[: len(questions)]]
