"""Turn one LLaVA conversation into `input_ids` and `labels` that cannot silently disagree.

LLaVA's `preprocess_v1` finds the answers by *counting tokens* per round, with `-2`/`-1` corrections that depend
on the tokenizer version; when the count is off it sets the whole sample to IGNORE and prints a warning, so the
sample trains on nothing (the most reported LLaVA training bug). Here the prompt is built by `Conversation`, which
also reports where each message sits in the string; the prompt is tokenized with character offsets, and a token
is a target iff its characters overlap an answer. Every failure raises with the sample id instead.

The results equal LLaVA's on samples LLaVA tokenizes correctly:
- `plain` (`preprocess_plain`): the string is `"<image>" + caption + "\\n"`; BOS and the image are IGNORE,
  everything after the image is a target.
- `v1` (`preprocess_multimodal` then `preprocess_v1`): the targets of a round are the answer, the space that
  separates it from `"ASSISTANT:"` (which sentencepiece tokenizers fuse into the answer's first piece, and which
  LLaVA's count therefore includes) and the closing `"</s>"`; the system prompt, `"USER: ..."` and
  `" ASSISTANT:"` are IGNORE.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from llava.constants import DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, IMAGE_TOKEN_INDEX
from llava.conversation import conv_llava_plain, conv_vicuna_v1
from llava.mm_utils import tokenizer_image_token, tokenizer_image_token_with_offsets

SUPPORTED_TEMPLATES: tuple[str, ...] = ("plain", "v1")
HUMAN, GPT = "human", "gpt"

Span = tuple[int, int]
QuerySpansFn = Callable[[str], list[Span]]


@dataclass(frozen=True)
class TokenizedSample:
    """One training sample before splicing: `labels` and `query_mask` are aligned with `input_ids`.

    `input_ids` holds `IMAGE_TOKEN_INDEX` where the image goes. `query_mask` marks the tokens of the T2V query
    words (None when no query function was given).
    """

    input_ids: list[int]
    labels: list[int]
    query_mask: list[bool] | None


def tokenize_conversation(
    sources: Sequence[dict[str, str]],
    tokenizer: PreTrainedTokenizerBase,
    template: str,
    has_image: bool,
    sample_id: str | int,
    query_spans_fn: QuerySpansFn | None = None,
) -> TokenizedSample:
    """Build the prompt of one sample (`[{"from": "human"|"gpt", "value": ...}, ...]`) and tokenize it.

    `query_spans_fn`, when given, receives the text of each human turn (without `"<image>"` and its newline) and
    returns character spans in that text; tokens overlapping them are marked in `query_mask`. Truncation is not
    done here: the model truncates after the image features are spliced in.
    Raises `ValueError` naming `sample_id` on a malformed conversation or if no token is a target.
    """
    if template == "plain":
        prompt, target_spans, query_spans = _plain_prompt(sources, has_image, sample_id)
    elif template == "v1":
        prompt, target_spans, query_spans = _v1_prompt(sources, has_image, sample_id, query_spans_fn)
    else:
        raise ValueError(f"sample {sample_id!r}: template {template!r} is not one of {SUPPORTED_TEMPLATES}")

    input_ids, offsets = tokenizer_image_token_with_offsets(prompt, tokenizer)
    if input_ids != tokenizer_image_token(prompt, tokenizer):
        raise ValueError(f"sample {sample_id!r}: offset tokenization disagrees with tokenizer_image_token")
    labels = [
        token if token != IMAGE_TOKEN_INDEX and _overlaps_any(offset, target_spans) else IGNORE_INDEX
        for token, offset in zip(input_ids, offsets, strict=True)
    ]
    if all(label == IGNORE_INDEX for label in labels):
        raise ValueError(f"sample {sample_id!r}: no target token (the conversation has no non-empty gpt answer)")
    query_mask = None
    if query_spans_fn is not None:
        query_mask = [
            token != IMAGE_TOKEN_INDEX and _overlaps_any(offset, query_spans)
            for token, offset in zip(input_ids, offsets, strict=True)
        ]
    return TokenizedSample(input_ids=input_ids, labels=labels, query_mask=query_mask)


def _plain_prompt(
    sources: Sequence[dict[str, str]], has_image: bool, sample_id: str | int
) -> tuple[str, list[Span], list[Span]]:
    """LLaVA's pretraining string: the instruction turn is replaced by the image, the caption follows it."""
    if not has_image:
        raise ValueError(f"sample {sample_id!r}: the plain template needs an image")
    if len(sources) != 2:
        raise ValueError(f"sample {sample_id!r}: the plain template needs exactly 2 turns, got {len(sources)}")
    if DEFAULT_IMAGE_TOKEN not in sources[0]["value"]:
        raise ValueError(f"sample {sample_id!r}: the plain template needs {DEFAULT_IMAGE_TOKEN} in turn 0")
    caption = sources[1]["value"]
    if DEFAULT_IMAGE_TOKEN in caption:
        raise ValueError(f"sample {sample_id!r}: {DEFAULT_IMAGE_TOKEN} in the caption")
    prompt = DEFAULT_IMAGE_TOKEN + caption + conv_llava_plain.sep
    return prompt, [(len(DEFAULT_IMAGE_TOKEN), len(prompt))], []


def _v1_prompt(
    sources: Sequence[dict[str, str]], has_image: bool, sample_id: str | int, query_spans_fn: QuerySpansFn | None
) -> tuple[str, list[Span], list[Span]]:
    """The vicuna_v1 prompt, the answer spans (space before, `</s>` after) and the query spans in it."""
    turns = _checked_turns(sources, sample_id)
    if has_image:
        turns = [_image_to_front(value) if DEFAULT_IMAGE_TOKEN in value else value for value in turns]
    _check_image_placement(turns, has_image, sample_id)

    conv = conv_vicuna_v1.copy()
    for i, value in enumerate(turns):
        conv.append_message(conv.roles[i % 2], value)
    prompt = conv.get_prompt()
    message_spans = conv.message_spans()

    target_spans: list[Span] = []
    query_spans: list[Span] = []
    for i, span in enumerate(message_spans):
        assert span is not None, "non-empty messages always appear in the prompt"
        start, end = span
        if i % 2 == 1:
            # The role prefix `"ASSISTANT: "` ends with the space that LLaVA's token count puts in the answer.
            target_spans.append((start - 1, end + len(conv.sep2 or "")))
        elif query_spans_fn is not None:
            query_spans += _query_spans(prompt[start:end], start, query_spans_fn, sample_id)
    return prompt, target_spans, query_spans


def _checked_turns(sources: Sequence[dict[str, str]], sample_id: str | int) -> list[str]:
    """The turn texts, human first and alternating; a leading gpt turn is dropped, as LLaVA does."""
    roles = [turn["from"] for turn in sources]
    unknown = sorted(set(roles) - {HUMAN, GPT})
    if unknown:
        raise ValueError(f"sample {sample_id!r}: unknown roles {unknown}; expected {HUMAN!r} or {GPT!r}")
    if roles and roles[0] == GPT:
        sources, roles = sources[1:], roles[1:]
    for i, role in enumerate(roles):
        expected = HUMAN if i % 2 == 0 else GPT
        if role != expected:
            raise ValueError(f"sample {sample_id!r}: turn {i} is from {role!r}, expected {expected!r} (roles {roles})")
    values = [turn["value"] for turn in sources]
    if any(value == "" for value in values):
        # An empty message renders as an open "ROLE:" generation slot and breaks the round structure.
        raise ValueError(f"sample {sample_id!r}: empty turn")
    return values


def _image_to_front(value: str) -> str:
    """LLaVA's `preprocess_multimodal`: the turn becomes `"<image>\\n" + rest`, stripped."""
    rest = value.replace(DEFAULT_IMAGE_TOKEN, "").strip()
    return (DEFAULT_IMAGE_TOKEN + "\n" + rest).strip()


def _check_image_placement(turns: list[str], has_image: bool, sample_id: str | int) -> None:
    """One image means exactly one `<image>`, in a human turn; no image means none (it would leave a sentinel)."""
    with_image = [i for i, value in enumerate(turns) if DEFAULT_IMAGE_TOKEN in value]
    if not has_image and with_image:
        raise ValueError(f"sample {sample_id!r}: {DEFAULT_IMAGE_TOKEN} in turns {with_image} of a sample without image")
    if has_image and len(with_image) != 1:
        raise ValueError(f"sample {sample_id!r}: expected {DEFAULT_IMAGE_TOKEN} in exactly one turn, got {with_image}")
    if has_image and with_image[0] % 2 == 1:
        raise ValueError(f"sample {sample_id!r}: {DEFAULT_IMAGE_TOKEN} in a gpt turn")


def _query_spans(message: str, start: int, query_spans_fn: QuerySpansFn, sample_id: str | int) -> list[Span]:
    """The query function's spans on a human turn's text (no image marker), shifted to prompt coordinates."""
    prefix = 0
    for marker in (DEFAULT_IMAGE_TOKEN + "\n", DEFAULT_IMAGE_TOKEN):
        if message.startswith(marker):
            prefix = len(marker)
            break
    text = message[prefix:]
    spans = query_spans_fn(text)
    for span_start, span_end in spans:
        if not 0 <= span_start <= span_end <= len(text):
            raise ValueError(f"sample {sample_id!r}: query span {(span_start, span_end)} outside {text!r}")
    shift = start + prefix
    return [(span_start + shift, span_end + shift) for span_start, span_end in spans]


def _overlaps_any(span: Span, spans: Sequence[Span]) -> bool:
    """Whether a token's non-empty character span shares a character with any of `spans`."""
    start, end = span
    return start < end and any(start < other_end and other_start < end for other_start, other_end in spans)
