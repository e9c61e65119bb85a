"""Build DUET's salient T2V query mask for a LLaVA prompt (the paper's `salient` query mode).

The salient words of the *question* (question words, content words, `? ! :`) are found by `duet.salient`; they are
located in the prompt by character offsets, so word pieces map to words through the tokenizer's offset mapping and
never by string matching. The last prompt token (":" of "ASSISTANT:", the attention sink) is always added, as in
the authors' inference loaders. The mask is aligned with `tokenizer_image_token(prompt)` and goes to
`model.generate(..., t2v_query_mask=...)`.
"""

from functools import lru_cache

from transformers import PreTrainedTokenizerBase

from duet.salient import SalientWordFinder, token_mask_from_spans
from llava.mm_utils import tokenizer_image_token_with_offsets


@lru_cache(maxsize=1)
def default_finder() -> SalientWordFinder:
    """One finder per process (loading a spaCy pipeline takes a few hundred ms)."""
    return SalientWordFinder()


def build_t2v_query_mask(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    question: str,
    finder: SalientWordFinder | None = None,
    include_last: bool = True,
) -> list[bool]:
    """Per token of `prompt`: is it a salient word of `question` (or the last prompt token)?

    `question` must appear verbatim in `prompt` (its last occurrence is used: the system prompt comes first).
    """
    start = prompt.rfind(question)
    if start < 0:
        raise ValueError(
            "The question text does not appear in the prompt; pass the question exactly as it was put into the "
            f"conversation. Question: {question[:80]!r}"
        )
    spans = [(s + start, e + start) for s, e in (finder or default_finder()).spans(question)]
    _, offsets = tokenizer_image_token_with_offsets(prompt, tokenizer)
    mask = token_mask_from_spans(offsets, spans)
    if include_last and mask:
        mask[-1] = True
    return mask
