"""Prompts as LLaVA's generators build them, and DUET's salient query mask for each one.

The user turn is `"<image>\\n" + question` (with `<im_start>`/`<im_end>` around the image when the checkpoint uses
them), rendered by the chosen conversation template with an open assistant turn. In DUET's `salient` query mode
the T2V scores are averaged over the question's salient words and the last prompt token, so every prompt that
reaches such a model carries a mask built from the question text exactly as it appears in the prompt.
"""

from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from llava.constants import DEFAULT_IM_END_TOKEN, DEFAULT_IM_START_TOKEN, DEFAULT_IMAGE_TOKEN
from llava.conversation import conv_templates
from llava.duet_queries import build_t2v_query_mask
from llava.model.language_model.llava_llama import LlavaLlamaForCausalLM

SINGLE_PRED_PROMPT = "Answer with the option's letter from the given choices directly."
SINGLE_PRED_PROMPT_CN = "请直接回答选项字母。"


def image_token(model_config: Any) -> str:
    """The image placeholder text for this checkpoint (LLaVA-1.5 uses the bare `<image>`)."""
    if getattr(model_config, "mm_use_im_start_end", False):
        return DEFAULT_IM_START_TOKEN + DEFAULT_IMAGE_TOKEN + DEFAULT_IM_END_TOKEN
    return DEFAULT_IMAGE_TOKEN


def build_prompt(conv_mode: str, user_message: str) -> str:
    """One user turn and an open assistant turn, rendered by `conv_mode`'s template."""
    if conv_mode not in conv_templates:
        raise ValueError(f"conversation template {conv_mode!r} is unknown; use one of {', '.join(conv_templates)}")
    conv = conv_templates[conv_mode].copy()
    conv.append_message(conv.roles[0], user_message)
    conv.append_message(conv.roles[1], None)
    return conv.get_prompt()


def needs_query_mask(model: LlavaLlamaForCausalLM) -> bool:
    """Whether generation must receive `t2v_query_mask`: T2V dropping is on and ranks with salient queries."""
    duet = model.duet
    return duet is not None and duet.t2v_enabled and duet.query == "salient"


def query_mask(tokenizer: PreTrainedTokenizerBase, prompt: str, question: str) -> torch.Tensor:
    """The salient-query mask of `prompt` (aligned with `tokenizer_image_token(prompt)`), as a bool tensor."""
    return torch.tensor(build_t2v_query_mask(tokenizer, prompt, question), dtype=torch.bool)
