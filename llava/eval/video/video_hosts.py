"""Prompting and batched generation for the two Video-LLaVA layouts, behind one interface for the QA scripts.

- original layout (`VideoLlavaLlamaForCausalLM`): the user turn is `"<image>" * 8 + "\\n" + question` rendered by
  the `llava_v1` template (Video-LLaVA's `run_inference_video_qa.py`); pixels are LanguageBind's (C, T, H, W).
- `-hf` layout (`VideoLlavaForConditionalGeneration`): the same template with one `<video>` instead of the eight
  `<image>`s, expanded to 8 x 257 video tokens by its processor (so both layouts see the same text).

Batches are left-padded; answers are the generated text only, special tokens removed, whitespace stripped. The
metadata written into every answer records the setting (`llava.eval.answer_records.SETTING_FIELDS`) and both token
counts of one video under it: the tokens entering the LLM (8 x 257 without V2V, CLS kept per frame) and their
average over the decoder layers, plus the 8 x 256 count the paper quotes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from duet.budget import visual_tokens_per_layer
from duet.config import DuetConfig
from llava.constants import DEFAULT_IMAGE_TOKEN
from llava.eval.decoding import DecodingOptions, generate_texts, pad_token_id
from llava.eval.prompting import build_prompt, needs_query_mask, query_mask
from llava.mm_utils import tokenizer_image_token
from llava.model.language_model.video_llava_llama import VideoLlavaLlamaForCausalLM
from llava.video.hf_processing import VideoLlavaHfProcessor
from llava.video.processing import VideoLlavaProcessors

VIDEO_TOKEN = "<video>"


class VideoHost(Protocol):
    """What the QA generator needs from a loaded Video-LLaVA."""

    num_frames: int

    def answer(self, questions: Sequence[str], clips: Sequence[np.ndarray], options: DecodingOptions) -> list[str]:
        """Answers to `questions[i]` about `clips[i]` ((T, H, W, 3) uint8 frames), in one batch."""
        ...

    def metadata(self, preset: str | None) -> dict[str, Any]:
        """Per-answer provenance: the setting and the visual-token counts of one video."""
        ...


def video_token_counts(
    duet: DuetConfig | None, num_layers: int, patches: int, num_frames: int, keep_cls: bool = True
) -> dict[str, float]:
    """Both accountings of one video: real LLM input (CLS kept per frame) and the paper's `frames x patches`."""
    per_layer = visual_tokens_per_layer(duet, num_layers, patches + int(keep_cls), num_frames)
    paper = visual_tokens_per_layer(duet, num_layers, patches, num_frames)
    return {
        "layer_averaged": sum(per_layer) / num_layers,
        "llm_input": per_layer[0],
        "paper_layer_averaged": sum(paper) / num_layers,
        "paper_llm_input": paper[0],
    }


def _query_path(duet: DuetConfig | None) -> str:
    if duet is None or not duet.t2v_enabled or duet.query != "salient":
        return "none"
    from llava.duet_queries import default_finder

    return default_finder().path


@dataclass
class OriginalVideoHost:
    """`LanguageBind/Video-LLaVA-7B` as released (two LanguageBind towers, temporal attention)."""

    model: VideoLlavaLlamaForCausalLM
    tokenizer: PreTrainedTokenizerBase
    processors: VideoLlavaProcessors
    conv_mode: str = "llava_v1"

    @property
    def num_frames(self) -> int:
        return self.processors["video"].num_frames

    def prompt(self, question: str) -> str:
        if getattr(self.model.config, "mm_use_im_start_end", False):
            raise ValueError("checkpoints with mm_use_im_start_end (<vid_start>/<vid_end>) are not supported")
        return build_prompt(self.conv_mode, DEFAULT_IMAGE_TOKEN * self.num_frames + "\n" + question)

    def answer(self, questions: Sequence[str], clips: Sequence[np.ndarray], options: DecodingOptions) -> list[str]:
        prompts = [self.prompt(q) for q in questions]
        ids = [tokenizer_image_token(p, self.tokenizer, return_tensors="pt") for p in prompts]
        masks = None
        if needs_query_mask(self.model):
            masks = [query_mask(self.tokenizer, p, q) for p, q in zip(prompts, questions, strict=True)]
        pixels = torch.stack([self.processors["video"].transform(clip) for clip in clips])  # (B, C, T, H, W)
        texts, _ = generate_texts(self.model, self.tokenizer, ids, pixels, None, masks, options)
        return texts

    def metadata(self, preset: str | None) -> dict[str, Any]:
        duet = self.model.duet
        tower = self.model.get_video_tower()
        counts = video_token_counts(duet, self.model.config.num_hidden_layers, tower.num_patches, tower.num_frames)
        return {
            "duet": duet.to_dict() if duet is not None else None,
            "duet_preset": preset,
            "query_path": _query_path(duet),
            "temporal_attention": self.model.config.temporal_attention,
            "visual_tokens": counts,
            "layout": "original",
        }


@dataclass
class HfVideoHost:
    """transformers' `VideoLlavaForConditionalGeneration` (`LanguageBind/Video-LLaVA-7B-hf`)."""

    model: Any
    processor: VideoLlavaHfProcessor
    conv_mode: str = "llava_v1"
    num_frames: int = 8

    def answer(self, questions: Sequence[str], clips: Sequence[np.ndarray], options: DecodingOptions) -> list[str]:
        prompts = [build_prompt(self.conv_mode, f"{VIDEO_TOKEN}\n{q}") for q in questions]
        inputs = self.processor(text=prompts, videos=list(clips), padding=True, return_tensors="pt")
        inputs = {k: v.to(self.model.device) for k, v in inputs.items()}
        inputs["pixel_values_videos"] = inputs["pixel_values_videos"].to(self.model.dtype)
        pad = pad_token_id(self.processor.tokenizer)
        with torch.inference_mode():
            output = self.model.generate(**inputs, pad_token_id=pad, use_cache=True, **options.generate_kwargs())
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.batch_decode(new_tokens, skip_special_tokens=True)]

    def metadata(self, preset: str | None) -> dict[str, Any]:
        config = self.model.config
        patches = (config.vision_config.image_size // config.vision_config.patch_size) ** 2
        duet = getattr(self.model, "duet", None)
        counts = video_token_counts(duet, config.text_config.num_hidden_layers, patches, self.num_frames)
        return {
            "duet": duet.to_dict() if duet is not None else None,
            "duet_preset": preset,
            "query_path": _query_path(duet),
            "temporal_attention": False,
            "visual_tokens": counts,
            "layout": "hf",
        }


def video_host(model: Any, tokenizer: PreTrainedTokenizerBase, processors: Any, conv_mode: str) -> VideoHost:
    """The host wrapper for whatever `load_pretrained_model` returned for a Video-LLaVA checkpoint."""
    if isinstance(model, VideoLlavaLlamaForCausalLM):
        return OriginalVideoHost(model, tokenizer, processors, conv_mode)
    if isinstance(processors, VideoLlavaHfProcessor):
        return HfVideoHost(model, processors, conv_mode)
    raise TypeError(
        f"{type(model).__name__} is not a Video-LLaVA model; the video QA scripts take LanguageBind/Video-LLaVA-7B "
        "(original layout) or LanguageBind/Video-LLaVA-7B-hf checkpoints."
    )
