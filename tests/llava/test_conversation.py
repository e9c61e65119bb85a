"""`Conversation.get_prompt()` must equal LLaVA's strings byte for byte (checkpoints were trained on them)."""

import pytest

from llava.conversation import (
    Conversation,
    SeparatorStyle,
    conv_llava_plain,
    conv_llava_v1,
    conv_templates,
    conv_vicuna_v1,
    default_conversation,
)

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
HUMAN_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
MMTAG_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant is able to understand the visual content that the user provides, and assist the user with a "
    "variety of tasks using natural language.The visual content will be provided with the following format: "
    "<Image>visual content</Image>."
)


def _prompt(name: str, *messages: object) -> str:
    conv = conv_templates[name].copy()
    for i, message in enumerate(messages):
        conv.append_message(conv.roles[i % 2], message)
    return conv.get_prompt()


def test_vicuna_v1_single_image_question_for_generation() -> None:
    assert _prompt("vicuna_v1", "<image>\nWhat is this?", None) == (
        "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
        "detailed, and polite answers to the user's questions. USER: <image>\nWhat is this? ASSISTANT:"
    )


def test_vicuna_v1_two_rounds_alternate_space_and_eos_separators() -> None:
    prompt = _prompt("v1", "<image>\nWhat is this?", "A red circle.", "How many?", "One.")
    assert prompt == (
        VICUNA_SYSTEM + " USER: <image>\nWhat is this? ASSISTANT: A red circle.</s>USER: How many? ASSISTANT: One.</s>"
    )


def test_llava_v1_uses_the_human_system_prompt() -> None:
    assert _prompt("llava_v1", "Hi", None) == HUMAN_SYSTEM + " USER: Hi ASSISTANT:"


def test_llava_v0_single_style_ends_every_turn_with_hashes() -> None:
    assert _prompt("llava_v0", "Hi", "Hello", "Bye", None) == (
        HUMAN_SYSTEM + "###Human: Hi###Assistant: Hello###Human: Bye###Assistant:"
    )


def test_plain_prompt_is_the_message_and_a_newline() -> None:
    assert _prompt("plain", "<image>\nWhat is this?", None) == "<image>\nWhat is this?\n"


def test_tuple_first_message_moves_image_to_the_front() -> None:
    # LLaVA's demo passes (text, image, process mode); the <image> is moved to the front, the text stripped.
    prompt = _prompt("vicuna_v1", ("  What is this?\n<image> ", object(), "Default"), None)
    assert prompt == VICUNA_SYSTEM + " USER: <image>\nWhat is this? ASSISTANT:"


def test_tuple_first_message_in_mmtag_version_gets_an_image_turn() -> None:
    prompt = _prompt("v1_mmtag", ("<image>\nWhat is this?", object(), "Pad"), None)
    assert prompt == (
        MMTAG_SYSTEM + " USER: <Image><image></Image> ASSISTANT: Received.</s>USER: What is this? ASSISTANT:"
    )
    prompt = _prompt("v0_mmtag", ("<image>\nWhat is this?", object(), "Pad"), None)
    assert (
        prompt
        == MMTAG_SYSTEM + "###Human: <Image><image></Image>###Assistant: Received.###Human: What is this?###Assistant:"
    )


def test_tuple_message_after_the_first_contributes_its_text() -> None:
    prompt = _prompt("v1", "Hi", ("Hello", object(), "Crop"), "Bye", None)
    assert prompt == VICUNA_SYSTEM + " USER: Hi ASSISTANT: Hello</s>USER: Bye ASSISTANT:"


def test_empty_message_is_an_open_turn_without_separator() -> None:
    # As in LLaVA: an empty message renders like None, "ROLE:" with no separator after it.
    assert _prompt("v1", "", None) == VICUNA_SYSTEM + " USER:ASSISTANT:"


def test_message_spans_locate_each_message_in_the_prompt() -> None:
    conv = conv_vicuna_v1.copy()
    for message in ("<image>\nWhat is this?", "A red circle.", "Why?", None):
        conv.append_message(conv.roles[len(conv.messages) % 2], message)
    prompt = conv.get_prompt()
    start = len(VICUNA_SYSTEM + " USER: ")
    assert conv.message_spans() == [
        (start, start + 21),
        (start + 33, start + 46),
        (start + 56, start + 60),
        None,
    ]
    assert [prompt[s:e] for s, e in conv.message_spans()[:3]] == ["<image>\nWhat is this?", "A red circle.", "Why?"]


def test_message_spans_of_rewritten_tuple_message_cover_the_rewritten_text() -> None:
    conv = conv_llava_plain.copy()
    conv.append_message("", ("What?<image>", object(), "Default"))
    assert conv.get_prompt() == "<image>\nWhat?\n"
    assert conv.message_spans() == [(0, 13)]


def test_copy_leaves_the_template_untouched() -> None:
    conv = conv_llava_v1.copy()
    conv.append_message(conv.roles[0], "Hi")
    conv.messages[-1][-1] = "Changed"
    assert conv_llava_v1.messages == []
    assert conv.messages == [["USER", "Changed"]]


def test_template_registry_matches_llava_names() -> None:
    assert conv_templates["v1"] is conv_templates["vicuna_v1"] is conv_vicuna_v1
    assert conv_templates["plain"] is conv_templates["v0_plain"] is conv_llava_plain
    assert default_conversation is conv_vicuna_v1
    assert set(conv_templates) == {
        "v1",
        "vicuna_v1",
        "plain",
        "v0_plain",
        "llava_v0",
        "v0_mmtag",
        "llava_v1",
        "v1_mmtag",
    }
    assert (conv_vicuna_v1.sep_style, conv_vicuna_v1.sep, conv_vicuna_v1.sep2) == (SeparatorStyle.TWO, " ", "</s>")
    assert (conv_llava_plain.sep_style, conv_llava_plain.sep, conv_llava_plain.sep2) == (
        SeparatorStyle.PLAIN,
        "\n",
        None,
    )
    assert conv_vicuna_v1.version == "v1" and conv_llava_plain.version == "Unknown"


def test_unknown_separator_style_is_rejected() -> None:
    conv = Conversation(system="", roles=("A", "B"), messages=[], offset=0, sep_style="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid style"):
        conv.get_prompt()
