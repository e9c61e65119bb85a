"""The tiny tokenizer: Vicuna-like ids and spacing, determinism across builds and runs, save/load round trip."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from llava.testing import build_tiny_tokenizer
from llava.testing.tiny_tokenizer import TINY_VOCAB_SIZE, _trained_backend_json

REPO = Path(__file__).resolve().parents[2]
TEXTS = [
    "A chat between a curious user and an artificial intelligence assistant. USER: What is this? ASSISTANT:",
    "How many red circles are there? Three.</s>USER: Is the star on the left?",
    "zebra 你好\n\t(A) 1,000%",
    "",
]


def test_special_tokens_and_padding_follow_llava_v1() -> None:
    tokenizer = build_tiny_tokenizer()
    assert (tokenizer.unk_token, tokenizer.bos_token, tokenizer.eos_token) == ("<unk>", "<s>", "</s>")
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    assert (tokenizer.pad_token, tokenizer.pad_token_id) == ("<unk>", 0)
    assert tokenizer.padding_side == "right"
    assert tokenizer.model_max_length == 2048
    assert build_tiny_tokenizer(model_max_length=512).model_max_length == 512


def test_vocab_has_llamas_layout_and_matches_the_tiny_llama_config() -> None:
    tokenizer = build_tiny_tokenizer()
    assert len(tokenizer) == tokenizer.vocab_size == TINY_VOCAB_SIZE == 1000
    vocab = tokenizer.get_vocab()
    assert [vocab[f"<0x{b:02X}>"] for b in (0, 10, 255)] == [3, 13, 258]
    assert json.loads((REPO / "configs/tiny/llama.json").read_text())["vocab_size"] == len(tokenizer)


def test_bos_only_and_literal_eos_in_text() -> None:
    tokenizer = build_tiny_tokenizer()
    assert tokenizer("A red</s>").input_ids == [1, 358, 596, 2]
    assert tokenizer.convert_ids_to_tokens(tokenizer("</s>").input_ids) == ["<s>", "</s>"]
    assert tokenizer("").input_ids == [1]


def test_spaces_are_sentencepiece_style_with_prefix_only_at_the_start() -> None:
    tokenizer = build_tiny_tokenizer()

    def pieces(text: str) -> list[str]:
        return tokenizer.convert_ids_to_tokens(tokenizer(text).input_ids)

    assert pieces("USER: What is this?") == ["<s>", "▁USER", ":", "▁What", "▁is", "▁this", "?"]
    # transformers 5's non-legacy Llama behaviour: no "▁" is prepended after a special token.
    assert pieces("</s>USER") == ["<s>", "</s>", "USER"]
    # "\n" is Llama's byte token 13; an unseen character falls back to its UTF-8 bytes.
    assert pieces("\n你") == ["<s>", "▁", "<0x0A>", "<0xE4>", "<0xBD>", "<0xA0>"]


def test_decode_inverts_encode() -> None:
    tokenizer = build_tiny_tokenizer()
    for text in TEXTS:
        assert tokenizer.decode(tokenizer(text).input_ids, skip_special_tokens=True) == text.replace("</s>", "")


def test_two_builds_are_identical_and_independent() -> None:
    first, second = build_tiny_tokenizer(), build_tiny_tokenizer()
    assert first.get_vocab() == second.get_vocab()
    assert [first(text).input_ids for text in TEXTS] == [second(text).input_ids for text in TEXTS]
    first.add_tokens(["<extra>"])
    assert len(first) == 1001 and len(second) == 1000


def test_training_is_identical_in_a_fresh_process() -> None:
    code = "from llava.testing.tiny_tokenizer import _trained_backend_json; print(_trained_backend_json(), end='')"
    fresh = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert fresh.stdout == _trained_backend_json()


def test_training_is_fast() -> None:
    _trained_backend_json.cache_clear()
    start = time.perf_counter()
    build_tiny_tokenizer()
    assert time.perf_counter() - start < 2.0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    tokenizer = build_tiny_tokenizer(model_max_length=512)
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    for text in TEXTS:
        expected = tokenizer(text, return_offsets_mapping=True)
        actual = loaded(text, return_offsets_mapping=True)
        assert actual.input_ids == expected.input_ids
        assert actual.offset_mapping == expected.offset_mapping
    assert (loaded.pad_token_id, loaded.padding_side, loaded.model_max_length) == (0, "right", 512)
    assert (loaded.bos_token_id, loaded.eos_token_id, len(loaded)) == (1, 2, 1000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A space is inside the piece that follows it ("▁Bl" spans " Bl"), or is a piece of its own.
        ("ASSISTANT: Blue.", [("▁ASSISTANT", (0, 9)), (":", (9, 10)), ("▁Bl", (10, 13)), ("ue", (13, 15)), (".", (15, 16))]),
        ("ASSISTANT: (B)</s>", [("▁ASSISTANT", (0, 9)), (":", (9, 10)), ("▁", (10, 11)), ("(", (11, 12)), ("B", (12, 13)), (")", (13, 14)), ("</s>", (14, 18))]),
        # The prepended "▁" and the byte token of "\n" both span the newline.
        ("\nWhat", [("▁", (0, 1)), ("<0x0A>", (0, 1)), ("What", (1, 5))]),
    ],
)  # fmt: skip
def test_offsets_map_pieces_to_their_characters(text: str, expected: list[tuple[str, tuple[int, int]]]) -> None:
    """Label masking relies on these offsets; BOS, not in the text, has an empty span."""
    tokenizer = build_tiny_tokenizer()
    encoding = tokenizer(text, return_offsets_mapping=True)
    pieces = tokenizer.convert_ids_to_tokens(encoding.input_ids)
    assert list(zip(pieces, encoding.offset_mapping, strict=True)) == [("<s>", (0, 0)), *expected]
