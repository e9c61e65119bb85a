"""Build DUET's salient T2V query mask for a LLaVA prompt (the paper's `salient` query mode).

The salient words of the *question* (question words, content words, `? ! :`) are found by `duet.salient`; they are
located in the prompt by character offsets, so word pieces map to words through the tokenizer's offset mapping and
never by string matching. The last prompt token (":" of "ASSISTANT:", the attention sink) is always added, as in
the authors' inference loaders. `build_t2v_query_mask` aligns the mask with `tokenizer_image_token(prompt)` (our LLaVA
host), `build_processor_query_mask` with a transformers processor's ids (transformers' LLaVA classes); either goes to
`model.generate(..., t2v_query_mask=...)`.
"""

from collections.abc import Sequence
from functools import lru_cache

from transformers import PreTrainedTokenizerBase, ProcessorMixin

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


def build_processor_query_mask(
    processor: ProcessorMixin,
    prompt: str,
    question: str,
    input_ids: Sequence[int],
    finder: SalientWordFinder | None = None,
) -> list[bool]:
    """The salient query mask for a transformers processor's ``input_ids`` of ``prompt`` (one unpadded prompt).

    transformers' LLaVA processors expand each ``<image>`` of the text into one token per patch before tokenizing;
    the expansion is re-done here (its length read from ``input_ids``) so word pieces map to the question's words
    by character offsets, exactly as for LLaVA's own prompts. The last prompt token is added, as the authors do.
    """
    image_token = processor.image_token
    images = prompt.count(image_token)
    image_id = processor.tokenizer.convert_tokens_to_ids(image_token)
    per_image = sum(1 for token in input_ids if token == image_id) // max(images, 1)
    expanded = prompt.replace(image_token, image_token * per_image)
    encoded = processor.tokenizer(expanded, return_offsets_mapping=True)
    if list(encoded["input_ids"]) != list(input_ids):
        raise ValueError(
            "The processor's input_ids are not the tokenization of this prompt (pass one unpadded prompt and the "
            "ids the processor returned for it)."
        )
    start = expanded.rfind(question)
    if start < 0:
        raise ValueError(f"The question text does not appear in the prompt. Question: {question[:80]!r}")
    spans = [(s + start, e + start) for s, e in (finder or default_finder()).spans(question)]
    mask = token_mask_from_spans(encoded["offset_mapping"], spans)
    if mask:
        mask[-1] = True
    return mask
