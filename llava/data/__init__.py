"""Training data: LLaVA conversations to `input_ids`, `labels` and T2V query masks."""

from llava.data.preprocess import SUPPORTED_TEMPLATES, QuerySpansFn, TokenizedSample, tokenize_conversation

__all__ = ["SUPPORTED_TEMPLATES", "QuerySpansFn", "TokenizedSample", "tokenize_conversation"]
